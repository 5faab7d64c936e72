// chan_go.go - peer benchmark: Go channels and select, the counterparts of
// kcoro's bench_chan figures, with the same shapes and worker counts
// (GOMAXPROCS set per figure).
//
// Prints:
//   BENCH peer.go.chan.unbuf_pingpong <ns> ns      round trip over two
//                                                   unbuffered channels, 2
//                                                   goroutines, GOMAXPROCS=1
//   BENCH peer.go.chan.buf1024_1p1c <M> Mmsg/s     1 producer, 1 consumer,
//                                                   chan of 1024, GOMAXPROCS=2
//   BENCH peer.go.chan.buf1024_4p4c <M> Mmsg/s     4 and 4, same
//   BENCH peer.go.chan.select4_recv <ns> ns        per message received by
//                                                   one goroutine selecting
//                                                   over 4 chans of 1024, each
//                                                   fed by a producer
//   BENCH peer.go.chan.close_wake <ns> ns          per goroutine: 1000 parked
//                                                   receivers woken by close
//   BENCH peer.go.chan.cancel_wake <ns> ns         the same, woken by a
//                                                   context's cancel
package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"time"
)

func iters(n int) int {
	pct := 100
	if s := os.Getenv("KC_BENCH_SCALE"); s != "" {
		if v, err := strconv.Atoi(s); err == nil && v > 0 {
			pct = v
		}
	}
	if v := n / 100 * pct; v > 0 {
		return v
	}
	return 1
}

func reps() int {
	if s := os.Getenv("KC_BENCH_REPS"); s != "" {
		if v, err := strconv.Atoi(s); err == nil && v > 0 && v <= 101 {
			return v
		}
	}
	return 5
}

func median(f func() float64) float64 {
	v := make([]float64, reps())
	for i := range v {
		v[i] = f()
	}
	sort.Float64s(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

func unbufPingpong() float64 {
	runtime.GOMAXPROCS(1)
	n := iters(500000)
	ping, pong := make(chan uint64), make(chan uint64)
	var wg sync.WaitGroup
	wg.Add(2)
	start := time.Now()
	go func() {
		for i := 0; i < n; i++ {
			v := <-ping
			pong <- v
		}
		wg.Done()
	}()
	go func() {
		var v uint64
		for i := 0; i < n; i++ {
			ping <- v
			v = <-pong
		}
		wg.Done()
	}()
	wg.Wait()
	return float64(time.Since(start).Nanoseconds()) / float64(n)
}

func buffered(np int) float64 {
	runtime.GOMAXPROCS(2)
	per := iters(2000000) / np
	ch := make(chan uint64, 1024)
	var prod, cons sync.WaitGroup
	start := time.Now()
	for i := 0; i < np; i++ {
		cons.Add(1)
		go func() {
			var sum uint64
			for v := range ch {
				sum += v
			}
			_ = sum
			cons.Done()
		}()
		prod.Add(1)
		go func() {
			for i := 0; i < per; i++ {
				ch <- uint64(i)
			}
			prod.Done()
		}()
	}
	prod.Wait()
	close(ch)
	cons.Wait()
	secs := time.Since(start).Seconds()
	return float64(per*np) / secs / 1e6
}

func select4Recv() float64 {
	runtime.GOMAXPROCS(2)
	per := iters(1000000) / 4
	var c [4]chan uint64
	for i := range c {
		c[i] = make(chan uint64, 1024)
	}
	var wg sync.WaitGroup
	start := time.Now()
	wg.Add(5)
	go func() {
		var sum uint64
		for n := 0; n < per*4; n++ {
			select {
			case v := <-c[0]:
				sum += v
			case v := <-c[1]:
				sum += v
			case v := <-c[2]:
				sum += v
			case v := <-c[3]:
				sum += v
			}
		}
		_ = sum
		wg.Done()
	}()
	for i := 0; i < 4; i++ {
		ch := c[i]
		go func() {
			for j := 0; j < per; j++ {
				ch <- uint64(j)
			}
			wg.Done()
		}()
	}
	wg.Wait()
	return float64(time.Since(start).Nanoseconds()) / float64(per*4)
}

// The goroutines report themselves parked before they block; the peer
// waits for all the reports, then gives the scheduler a moment to park
// them (Go has no way to observe a parked goroutine).
func wakeHerd(cancel bool) float64 {
	runtime.GOMAXPROCS(2)
	const n = 1000
	ch := make(chan uint64)
	ctx, stop := context.WithCancel(context.Background())
	var ready, done sync.WaitGroup
	ready.Add(n)
	done.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			ready.Done()
			select {
			case <-ch:
			case <-ctx.Done():
			}
			done.Done()
		}()
	}
	ready.Wait()
	time.Sleep(5 * time.Millisecond)
	start := time.Now()
	if cancel {
		stop()
	} else {
		close(ch)
	}
	done.Wait()
	stop()
	return float64(time.Since(start).Nanoseconds()) / n
}

func main() {
	fmt.Printf("BENCH peer.go.chan.unbuf_pingpong %.4g ns\n", median(unbufPingpong))
	fmt.Printf("BENCH peer.go.chan.buf1024_1p1c %.4g Mmsg/s\n", median(func() float64 { return buffered(1) }))
	fmt.Printf("BENCH peer.go.chan.buf1024_4p4c %.4g Mmsg/s\n", median(func() float64 { return buffered(4) }))
	fmt.Printf("BENCH peer.go.chan.select4_recv %.4g ns\n", median(select4Recv))
	fmt.Printf("BENCH peer.go.chan.close_wake %.4g ns\n", median(func() float64 { return wakeHerd(false) }))
	fmt.Printf("BENCH peer.go.chan.cancel_wake %.4g ns\n", median(func() float64 { return wakeHerd(true) }))
}
