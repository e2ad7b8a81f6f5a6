//! What the gateway's hooks add to a native route: the hello route through the real pipeline, in
//! process, alone and behind the gateway (CORS for an allowed origin plus a token bucket that
//! never runs out), interleaved in one run; and 429s shed by an exhausted bucket against the
//! hello route's own rate.
//!
//! Run: `bench/gateway.sh` (release build). Env: `ROUNDS` (20), `PER_ROUND` (2000).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use buntime_core::ClientAddr;
use buntime_plugin_gateway::GatewayPlugin;
use buntime_testkit::{PluginHarness, StartedHarness};

const HELLO: &str = include_str!("../../plugin-hello/manifest.yaml");
const GATEWAY: &str = "name: \"@buntime/plugin-gateway\"\nbase: /gateway\ncors:\n  origin: [\"https://app.example\"]\n  credentials: true\n";

fn gateway(requests: u64, window: &str) -> String {
    format!("{GATEWAY}rateLimit:\n  requests: {requests}\n  window: {window}\n")
}

async fn run(h: &StartedHarness, expect: u16, n: usize, out: &mut Vec<Duration>) {
    let peer: SocketAddr = "198.51.100.1:5000".parse().unwrap();
    for i in 0..n {
        let mut req = http::Request::get("/hello/api/greeting")
            .header("x-request-id", format!("bench-{i}"))
            .header("origin", "https://app.example")
            .body(axum::body::Body::empty())
            .unwrap();
        req.extensions_mut().insert(ClientAddr(peer));
        let t = Instant::now();
        let res = h.send(req).await;
        out.push(t.elapsed());
        assert_eq!(res.status, expect, "{}", res.text());
    }
}

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort_unstable();
    v[((v.len() as f64 - 1.0) * p) as usize]
}

fn per_second(v: &[Duration]) -> f64 {
    v.len() as f64 / v.iter().sum::<Duration>().as_secs_f64()
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let env = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let (rounds, per_round) = (env("ROUNDS", 20), env("PER_ROUND", 2000));
    let start = |m: String| async move {
        PluginHarness::new(&m, GatewayPlugin::new)
            .with_plugin(HELLO, buntime_plugin_hello::HelloPlugin::new)
            .start()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let alone = PluginHarness::new(HELLO, buntime_plugin_hello::HelloPlugin::new)
        .start()
        .await
        .unwrap();
    let passing = start(gateway(u64::from(u32::MAX), "1d")).await;
    let shedding = start(gateway(1, "1d")).await;

    let (mut a, mut g, mut s) = (Vec::new(), Vec::new(), Vec::new());
    // Warm up (and exhaust the shedding bucket), then interleave so machine load hits all alike.
    run(&alone, 200, per_round, &mut a).await;
    run(&passing, 200, per_round, &mut g).await;
    run(&shedding, 200, 1, &mut s).await;
    run(&shedding, 429, per_round, &mut s).await;
    a.clear();
    g.clear();
    s.clear();
    for _ in 0..rounds {
        run(&alone, 200, per_round, &mut a).await;
        run(&passing, 200, per_round, &mut g).await;
        run(&shedding, 429, per_round, &mut s).await;
    }
    let (ra, rg, rs) = (per_second(&a), per_second(&g), per_second(&s));
    let (a50, a99) = (pct(&mut a, 0.5), pct(&mut a, 0.99));
    let (g50, g99) = (pct(&mut g, 0.5), pct(&mut g, 0.99));
    let (s50, s99) = (pct(&mut s, 0.5), pct(&mut s, 0.99));
    println!(
        "requests per variant: {} ({rounds} interleaved rounds of {per_round}), in process, one thread",
        a.len()
    );
    println!(
        "hello alone                 p50 {:>7.2} µs   p99 {:>7.2} µs   {:>8.0} req/s",
        us(a50),
        us(a99),
        ra
    );
    println!(
        "hello + gateway (cors+rl)   p50 {:>7.2} µs   p99 {:>7.2} µs   {:>8.0} req/s",
        us(g50),
        us(g99),
        rg
    );
    println!(
        "gateway 429 (exhausted)     p50 {:>7.2} µs   p99 {:>7.2} µs   {:>8.0} req/s",
        us(s50),
        us(s99),
        rs
    );
    println!(
        "added by the gateway        p50 {:>7.2} µs",
        us(g50) - us(a50)
    );
    println!("429s shed / hello req/s     {:>7.2}", rs / ra);
}
