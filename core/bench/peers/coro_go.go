// coro_go.go - peer benchmark: goroutines as the counterpart of kcoro's
// coroutine engine. Run with GOMAXPROCS=1 (set below) so that both sides use
// one thread.
//
// Prints:
//   BENCH peer.go.coro.switch_roundtrip <ns> ns   two goroutines ping-ponging
//                                                 with runtime.Gosched; one
//                                                 round trip = two switches
//   BENCH peer.go.coro.spawn_exit <ns> ns         go f() + f exits + join
//   BENCH peer.go.coro.parked_rss <bytes> bytes   resident memory per parked
//                                                 goroutine, 100,000 parked
package main

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
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

func switchRoundtrip() float64 {
	n := iters(10000000)
	var wg sync.WaitGroup
	wg.Add(2)
	start := time.Now()
	for g := 0; g < 2; g++ {
		go func() {
			for i := 0; i < n; i++ {
				runtime.Gosched()
			}
			wg.Done()
		}()
	}
	wg.Wait()
	return float64(time.Since(start).Nanoseconds()) / float64(n)
}

func spawnExit() float64 {
	n := iters(2000000)
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() { wg.Done() }()
	}
	wg.Wait()
	return float64(time.Since(start).Nanoseconds()) / float64(n)
}

func rss() float64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	pages, _ := strconv.Atoi(f[1])
	return float64(pages * os.Getpagesize())
}

//go:noinline
func useStack(ch chan int, ready *sync.WaitGroup) int {
	var frame [128]byte
	for i := range frame {
		frame[i] = 1
	}
	ready.Done()
	return int(frame[7]) + <-ch
}

func parkedRSS() float64 {
	n := iters(100000)
	ch := make(chan int)
	var wg, ready sync.WaitGroup
	runtime.GC()
	before := rss()
	wg.Add(n)
	ready.Add(n)
	for i := 0; i < n; i++ {
		go func() { useStack(ch, &ready); wg.Done() }()
	}
	ready.Wait()
	after := rss()
	close(ch)
	wg.Wait()
	return (after - before) / float64(n)
}

func main() {
	runtime.GOMAXPROCS(1)
	// Measured once, first: later runs would reuse memory the first one
	// made resident and report too little.
	fmt.Printf("BENCH peer.go.coro.parked_rss %.4g bytes\n", parkedRSS())
	fmt.Printf("BENCH peer.go.coro.switch_roundtrip %.4g ns\n", median(switchRoundtrip))
	fmt.Printf("BENCH peer.go.coro.spawn_exit %.4g ns\n", median(spawnExit))
}
