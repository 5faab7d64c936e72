// bus_tokio - tokio::sync::broadcast measured the way bench_bus.c measures kc_bus.
//
// Figures (printed as `BENCH peer.tokio.bus.<figure> <value> <unit>`, the
// median of KC_BENCH_REPS repetitions, default 5; KC_BENCH_SCALE scales the
// iteration counts in percent, as kcoro's benchmarks do):
//
//   publish_0sub / _1sub / _lagged   ns per send, 16-byte messages, capacity 64
//       (with no receiver tokio's send returns the value: nothing is stored)
//   deliveries_f1_cap64, _f4_cap64, _f8 (capacity 128), _f16_cap128
//       M deliveries/s: one thread sends a burst of `capacity` messages,
//       then every receiver drains it with try_recv (tokio has no batch
//       receive). `.loss` is the lost share in %.
//   paced_f<N>_cap<C>_b<B>
//       M deliveries/s and `.loss` %: a sender task and N receiver tasks on
//       a multi-thread runtime with 2 workers. The sender sends a burst of B
//       messages one by one, then waits until every receiver has caught up
//       (read or lost everything), and repeats: the same publisher pacing as
//       bench_bus.c. Receivers await recv(). Each run sends about 2 M
//       deliveries' worth of bursts (bench_bus.c sends 20 M: kcoro is faster
//       and needs more rounds for a stable time); the pacing per round is
//       the same.
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};
use tokio::sync::Notify;

type Msg = [u64; 2];

fn env_num(name: &str, default: i64) -> i64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn reps() -> usize {
    env_num("KC_BENCH_REPS", 5).clamp(1, 101) as usize
}

fn iters(n: i64) -> i64 {
    let pct = env_num("KC_BENCH_SCALE", 100).max(1);
    (n / 100 * pct).max(1)
}

fn median(v: &mut Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn report(name: &str, value: f64, unit: &str) {
    println!("BENCH peer.tokio.bus.{} {:.4} {}", name, value, unit);
}

/// Run f reps() times; f returns (figure, loss %). Reports both medians.
fn measure<F: FnMut() -> (f64, f64)>(name: &str, unit: &str, with_loss: bool, mut f: F) {
    let (mut vals, mut losses) = (Vec::new(), Vec::new());
    for _ in 0..reps() {
        let (v, l) = f();
        vals.push(v);
        losses.push(l);
    }
    report(name, median(&mut vals), unit);
    if with_loss {
        report(&format!("{}.loss", name), median(&mut losses), "%");
    }
}

fn publish_cost(subs: usize, drain: bool) -> (f64, f64) {
    let (tx, rx0) = broadcast::channel::<Msg>(64);
    let mut rx = if subs > 0 { Some(rx0) } else { drop(rx0); None };
    let bursts = iters(40000);
    let mut timed = 0u128;
    let mut msg: Msg = [0, 0];
    for _ in 0..bursts {
        let t0 = Instant::now();
        for k in 0..64u64 {
            msg[0] = k;
            let _ = tx.send(msg);
        }
        timed += t0.elapsed().as_nanos();
        if drain {
            if let Some(r) = rx.as_mut() {
                while !matches!(r.try_recv(), Err(TryRecvError::Empty)) {}
            }
        }
    }
    (timed as f64 / (bursts as f64 * 64.0), 0.0)
}

fn ring_deliveries(subs: usize, cap: usize, rounds: i64) -> (f64, f64) {
    let (tx, _keep) = broadcast::channel::<Msg>(cap);
    let mut rxs: Vec<_> = (0..subs).map(|_| tx.subscribe()).collect();
    let rounds = iters(rounds);
    let (mut got, mut lost, mut sink) = (0u64, 0u64, 0u64);
    let mut msg: Msg = [0, 0];
    let t0 = Instant::now();
    for _ in 0..rounds {
        for j in 0..cap as u64 {
            msg[0] = j;
            let _ = tx.send(msg);
        }
        for rx in rxs.iter_mut() {
            loop {
                match rx.try_recv() {
                    Ok(m) => {
                        sink = sink.wrapping_add(m[0]);
                        got += 1;
                    }
                    Err(TryRecvError::Lagged(n)) => lost += n,
                    Err(_) => break,
                }
            }
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    if sink == u64::MAX {
        println!("# sink {}", sink); // keeps the reads from being optimised away
    }
    (got as f64 / secs / 1e6, 100.0 * lost as f64 / (got + lost).max(1) as f64)
}

struct Pace {
    pending: AtomicUsize,
    target: AtomicU64,
    notify: Notify,
}

fn paced(rt: &tokio::runtime::Runtime, subs: usize, cap: usize, burst: u64, rounds: i64) -> (f64, f64) {
    let (tx, _) = broadcast::channel::<Msg>(cap);
    let pace = Arc::new(Pace { pending: AtomicUsize::new(0), target: AtomicU64::new(0), notify: Notify::new() });
    let t0 = Instant::now();
    let receivers: Vec<_> = (0..subs)
        .map(|_| {
            let mut rx = tx.subscribe();
            let pace = pace.clone();
            rt.spawn(async move {
                let (mut seen, mut acked, mut got, mut lost) = (0u64, 0u64, 0u64, 0u64);
                loop {
                    match rx.recv().await {
                        Ok(_) => {
                            seen += 1;
                            got += 1;
                        }
                        Err(RecvError::Lagged(n)) => {
                            seen += n;
                            lost += n;
                        }
                        Err(RecvError::Closed) => break,
                    }
                    let t = pace.target.load(Ordering::Acquire);
                    if seen >= t && acked < t {
                        acked = t;
                        if pace.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
                            pace.notify.notify_one();
                        }
                    }
                }
                (got, lost)
            })
        })
        .collect();
    let sender = {
        let pace = pace.clone();
        rt.spawn(async move {
            let mut seq = 0u64;
            for _ in 0..rounds {
                pace.pending.store(subs, Ordering::SeqCst);
                pace.target.store(seq + burst, Ordering::Release);
                for _ in 0..burst {
                    let _ = tx.send([seq, 0]);
                    seq += 1;
                }
                while pace.pending.load(Ordering::Acquire) > 0 {
                    pace.notify.notified().await;
                }
            }
            drop(tx); // close: the receivers return
        })
    };
    rt.block_on(async {
        sender.await.unwrap();
        let (mut got, mut lost) = (0u64, 0u64);
        for r in receivers {
            let (g, l) = r.await.unwrap();
            got += g;
            lost += l;
        }
        let secs = t0.elapsed().as_secs_f64();
        (got as f64 / secs / 1e6, 100.0 * lost as f64 / (got + lost).max(1) as f64)
    })
}

fn main() {
    measure("publish_0sub", "ns", false, || publish_cost(0, false));
    measure("publish_1sub", "ns", false, || publish_cost(1, true));
    measure("publish_lagged", "ns", false, || publish_cost(1, false));

    let fan = [1usize, 4, 8, 16];
    let fan_cap = [64usize, 64, 128, 128];
    let fan_name = ["deliveries_f1_cap64", "deliveries_f4_cap64", "deliveries_f8", "deliveries_f16_cap128"];
    for i in 0..4 {
        let rounds = (160000 / (fan[i] * fan_cap[i]) * 64) as i64;
        measure(fan_name[i], "M/s", true, || ring_deliveries(fan[i], fan_cap[i], rounds));
    }

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
    let mcap = [64usize, 256, 1024, 4096];
    let mburst = [256u64, 256, 1024, 1024];
    for &f in fan.iter() {
        for j in 0..4 {
            let rounds = iters(2_000_000 / (mburst[j] as i64 * f as i64) + 8);
            let name = format!("paced_f{}_cap{}_b{}", f, mcap[j], mburst[j]);
            measure(&name, "M/s", true, || paced(&rt, f, mcap[j], mburst[j], rounds));
        }
    }
}
