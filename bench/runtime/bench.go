// SPDX-License-Identifier: MIT
// bench.go - the operations of bench_runtime.c on Go's own channels, select
// and contexts, measured the same way, so that bench/runtime/run can print
// the two side by side.
//
//	go run bench.go [OP...]        (default: every op)
//
// Each op runs for about BENCH_TIME seconds (default 0.3) after a
// calibration, three times; the median is printed as "OP<TAB>NS_PER_OP".
// GOMAXPROCS is 2 unless the environment says otherwise.
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

const capacity = 1024

func pingpong(n int64) {
	a, b := make(chan int64), make(chan int64)
	go func() {
		for i := int64(0); i < n; i++ {
			b <- <-a
		}
	}()
	for i := int64(0); i < n; i++ {
		a <- i
		<-b
	}
}

func produce(c chan<- int64, n int64) {
	for i := int64(0); i < n; i++ {
		c <- i
	}
}

func consume(c <-chan int64, wg *sync.WaitGroup) {
	for range c {
	}
	wg.Done()
}

func buffered(n int64) {
	c := make(chan int64, capacity)
	var wg sync.WaitGroup
	wg.Add(1)
	go consume(c, &wg)
	produce(c, n)
	close(c)
	wg.Wait()
}

func mpmc(n int64) {
	c := make(chan int64, capacity)
	var prod, cons sync.WaitGroup
	prod.Add(2)
	cons.Add(2)
	go func() { produce(c, n/2); prod.Done() }()
	go func() { produce(c, n-n/2); prod.Done() }()
	go consume(c, &cons)
	go consume(c, &cons)
	prod.Wait()
	close(c)
	cons.Wait()
}

func selectTwo(n int64) {
	a, b := make(chan int64, capacity), make(chan int64, capacity)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		for i := int64(0); i < n; i++ {
			if i&1 != 0 {
				b <- i
			} else {
				a <- i
			}
		}
		wg.Done()
	}()
	for i := int64(0); i < n; i++ {
		select {
		case <-a:
		case <-b:
		}
	}
	wg.Wait()
}

func ctxCancel(n int64) {
	for i := int64(0); i < n; i++ {
		_, cancel := context.WithCancel(context.Background())
		cancel()
	}
}

var ops = []struct {
	name string
	run  func(int64)
}{
	{"pingpong", pingpong},
	{"buffered", buffered},
	{"mpmc", mpmc},
	{"select", selectTwo},
	{"ctx", ctxCancel},
	// Go has no batch send: the C batch is compared with a per-value send.
	{"batch64", buffered},
}

func timed(run func(int64), n int64) time.Duration {
	start := time.Now()
	run(n)
	return time.Since(start)
}

// measure grows n until a run takes a tenth of the target, scales it to the
// target, then takes the median of three runs.
func measure(run func(int64), seconds float64) float64 {
	target := time.Duration(seconds * 1e9)
	n := int64(1000)
	var t time.Duration
	for {
		t = timed(run, n)
		if t >= target/10 || n >= 1<<40 {
			break
		}
		n *= 4
	}
	if t > 0 {
		n = int64(float64(n) * float64(target) / float64(t))
	}
	if n < 1000 {
		n = 1000
	}
	ns := make([]float64, 3)
	for i := range ns {
		ns[i] = float64(timed(run, n).Nanoseconds()) / float64(n)
	}
	sort.Float64s(ns)
	return ns[1]
}

func main() {
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(2)
	}
	seconds := 0.3
	if s, err := strconv.ParseFloat(os.Getenv("BENCH_TIME"), 64); err == nil && s > 0 {
		seconds = s
	}
	want := map[string]bool{}
	for _, a := range os.Args[1:] {
		want[a] = true
	}
	for _, op := range ops {
		if len(want) > 0 && !want[op.name] {
			continue
		}
		fmt.Printf("%s\t%.1f\n", op.name, measure(op.run, seconds))
	}
}
