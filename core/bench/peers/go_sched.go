// go_sched.go - Go runtime peer for kcoro's scheduler benchmarks (bench_sched.c).
//
// Each figure has the shape of the kcoro figure with the same name: the same
// worker count (GOMAXPROCS), batch sizes, tree depth, timer counts and
// message size. Every figure is the median of KC_BENCH_REPS runs (default 5),
// printed as `BENCH peer.go.sched.<figure> <value> <unit>`.
package main

import (
	"fmt"
	"io"
	"math/rand"
	"net"
	"os"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"
)

func reps() int {
	if n, err := strconv.Atoi(os.Getenv("KC_BENCH_REPS")); err == nil && n > 0 {
		return n
	}
	return 5
}

// iters scales a count by KC_BENCH_SCALE (a percentage), as kc_bench_iters does.
func iters(n int) int {
	if p, err := strconv.Atoi(os.Getenv("KC_BENCH_SCALE")); err == nil && p > 0 {
		n = n / 100 * p
	}
	if n < 1 {
		n = 1
	}
	return n
}

func measure(name, unit string, fn func() float64) {
	v := make([]float64, reps())
	for i := range v {
		v[i] = fn()
	}
	sort.Float64s(v)
	m := v[len(v)/2]
	if len(v)%2 == 0 {
		m = (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	fmt.Printf("BENCH peer.go.sched.%s %.4g %s\n", name, m, unit)
}

func yieldPingpong() float64 {
	runtime.GOMAXPROCS(1)
	n := iters(2000000)
	var wg sync.WaitGroup
	start := time.Now()
	for k := 0; k < 2; k++ {
		wg.Add(1)
		go func() {
			for i := 0; i < n; i++ {
				runtime.Gosched()
			}
			wg.Done()
		}()
	}
	wg.Wait()
	return float64(time.Since(start).Nanoseconds()) / float64(2*n)
}

func spawnJoin(batch int) float64 {
	runtime.GOMAXPROCS(2)
	total := 1000000
	if batch > 64 {
		total = 200000
	}
	n := iters(total) / batch * batch
	if n < batch {
		n = batch
	}
	var wg sync.WaitGroup
	start := time.Now()
	for done := 0; done < n; done += batch {
		wg.Add(batch)
		for i := 0; i < batch; i++ {
			go func() { wg.Done() }()
		}
		wg.Wait()
	}
	return float64(time.Since(start).Nanoseconds()) / float64(n)
}

func tree(d int) int {
	if d == 0 {
		return 1
	}
	c := make(chan int, 2)
	go func() { c <- tree(d - 1) }()
	go func() { c <- tree(d - 1) }()
	return <-c + <-c + 1
}

func spawnTree() float64 {
	runtime.GOMAXPROCS(2)
	start := time.Now()
	nodes := 0
	done := make(chan int)
	go func() { done <- tree(17) }()
	nodes = <-done
	return float64(time.Since(start).Nanoseconds()) / float64(nodes)
}

func never() { panic("a timer an hour away fired") }

// timerSetCancel: with a million timers pending, start one and stop it at
// once, a million times (the deadline pattern of every timed operation).
func timerSetCancel(pending []*time.Timer, delay []time.Duration) float64 {
	runtime.GOMAXPROCS(1)
	for i := range pending {
		pending[i] = time.AfterFunc(delay[i], never)
	}
	start := time.Now()
	for i := range delay {
		t := time.AfterFunc(delay[i], never)
		t.Stop()
	}
	ns := float64(time.Since(start).Nanoseconds()) / float64(len(delay))
	for _, t := range pending {
		t.Stop()
	}
	return ns
}

// timerBulk: start a million timers, then stop them all in random order.
func timerBulk(timers []*time.Timer, delay []time.Duration, order []int) float64 {
	runtime.GOMAXPROCS(1)
	start := time.Now()
	for i := range timers {
		timers[i] = time.AfterFunc(delay[i], never)
	}
	for _, j := range order {
		if !timers[j].Stop() {
			panic("timer was not pending")
		}
	}
	return float64(time.Since(start).Nanoseconds()) / float64(len(timers))
}

func fileConn(fd int) net.Conn {
	f := os.NewFile(uintptr(fd), "socketpair")
	c, err := net.FileConn(f)
	if err != nil {
		panic(err)
	}
	f.Close()
	return c
}

func socketEcho() float64 {
	runtime.GOMAXPROCS(2)
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		panic(err)
	}
	srv, cli := fileConn(fds[0]), fileConn(fds[1])
	go func() {
		buf := make([]byte, 8)
		for {
			if _, err := io.ReadFull(srv, buf); err != nil {
				return
			}
			if _, err := srv.Write(buf); err != nil {
				return
			}
		}
	}()
	n := iters(50000)
	buf := []byte("pingpong")
	start := time.Now()
	for i := 0; i < n; i++ {
		if _, err := cli.Write(buf); err != nil {
			panic(err)
		}
		if _, err := io.ReadFull(cli, buf); err != nil {
			panic(err)
		}
	}
	us := float64(time.Since(start).Nanoseconds()) / 1000 / float64(n)
	cli.Close()
	srv.Close()
	return us
}

func main() {
	measure("yield_pingpong", "ns", yieldPingpong)
	measure("spawn_join", "ns", func() float64 { return spawnJoin(64) })
	measure("spawn_join_batch10k", "ns", func() float64 { return spawnJoin(10000) })
	measure("spawn_tree", "ns", spawnTree)

	n := iters(1000000)
	rng := rand.New(rand.NewSource(1))
	delay := make([]time.Duration, n)
	order := make([]int, n)
	for i := range delay {
		delay[i] = time.Hour + time.Duration(rng.Intn(1000000))*time.Microsecond
		order[i] = i
	}
	rng.Shuffle(n, func(i, j int) { order[i], order[j] = order[j], order[i] })
	timers := make([]*time.Timer, n)
	measure("timer_set_cancel", "ns", func() float64 { return timerSetCancel(timers, delay) })
	measure("timer_bulk_set_cancel", "ns", func() float64 { return timerBulk(timers, delay, order) })

	measure("socket_echo_rtt", "us", socketEcho)
}
