//! Per-request cost of the IP layer, and of its building blocks.
//!
//! Run: `cargo bench -p mestring-ipcrypt --bench middleware -- --warm-up-time 1 --measurement-time 3`

use std::collections::HashSet;
use std::hint::black_box;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use actix_web::{App, HttpResponse, test, web};
use chrono::Utc;
use criterion::{Criterion, criterion_group, criterion_main};
use mestring_ipcrypt::{
    IpLayer, IpState, IpStateConfig, NullSink, RequestIp, SealingKeyRing, TagKeys, TrustedProxies,
    extract_client_ip,
};

fn state(blocked: usize, trusted: &str) -> Arc<IpState> {
    let ring = Arc::new(SealingKeyRing::generate());
    let cfg = IpStateConfig::new(
        TrustedProxies::parse(trusted).expect("bench proxies"),
        TagKeys::generate("2026-11-25"),
        ring.clone(),
        Arc::new(NullSink),
    );
    let state = Arc::new(IpState::new(cfg));
    let set: HashSet<String> = (0..blocked)
        .map(|i| {
            let ip = IpAddr::from([10, 200, (i / 256) as u8, (i % 256) as u8]);
            ring.block_hash(ip)
        })
        .collect();
    state.set_blocked(set);
    state
}

async fn trivial() -> HttpResponse {
    HttpResponse::Ok().finish()
}

async fn with_tag(rip: RequestIp) -> HttpResponse {
    black_box(rip.tag());
    HttpResponse::Ok().finish()
}

fn bench_middleware(c: &mut Criterion) {
    let sys = actix_web::rt::System::new();
    let peer: SocketAddr = "198.51.100.7:50000".parse().expect("addr");
    let mut g = c.benchmark_group("ip_layer_request");

    let plain = sys.block_on(test::init_service(
        App::new().route("/", web::get().to(trivial)),
    ));
    g.bench_function("baseline_no_layer", |b| {
        b.iter(|| {
            let req = test::TestRequest::get()
                .uri("/")
                .peer_addr(peer)
                .to_request();
            sys.block_on(test::call_service(&plain, req))
        })
    });

    g.bench_function("baseline_no_layer_with_xff_header", |b| {
        b.iter(|| {
            let req = test::TestRequest::get()
                .uri("/")
                .peer_addr(peer)
                .insert_header(("x-forwarded-for", "203.0.113.9, 198.51.100.7, 10.1.2.3"))
                .to_request();
            sys.block_on(test::call_service(&plain, req))
        })
    });

    let layered = sys.block_on(test::init_service(
        App::new()
            .wrap(IpLayer::new(state(0, "")))
            .route("/", web::get().to(trivial)),
    ));
    g.bench_function("layer_no_blocks", |b| {
        b.iter(|| {
            let req = test::TestRequest::get()
                .uri("/")
                .peer_addr(peer)
                .to_request();
            sys.block_on(test::call_service(&layered, req))
        })
    });

    let blocks = sys.block_on(test::init_service(
        App::new()
            .wrap(IpLayer::new(state(1000, "")))
            .route("/", web::get().to(with_tag)),
    ));
    g.bench_function("layer_1000_blocks_and_tag", |b| {
        b.iter(|| {
            let req = test::TestRequest::get()
                .uri("/")
                .peer_addr(peer)
                .to_request();
            sys.block_on(test::call_service(&blocks, req))
        })
    });

    let proxied = sys.block_on(test::init_service(
        App::new()
            .wrap(IpLayer::new(state(1000, "10.0.0.0/8")))
            .route("/", web::get().to(with_tag)),
    ));
    let proxy: SocketAddr = "10.0.0.1:50000".parse().expect("addr");
    g.bench_function("layer_trusted_proxy_xff_1000_blocks_and_tag", |b| {
        b.iter(|| {
            let req = test::TestRequest::get()
                .uri("/")
                .peer_addr(proxy)
                .insert_header(("x-forwarded-for", "203.0.113.9, 198.51.100.7, 10.1.2.3"))
                .to_request();
            sys.block_on(test::call_service(&proxied, req))
        })
    });
    g.finish();
}

fn bench_parts(c: &mut Criterion) {
    let mut g = c.benchmark_group("ip_layer_parts");
    let ring = SealingKeyRing::generate();
    let ip: IpAddr = "198.51.100.7".parse().expect("ip");
    let at = Utc::now();

    g.bench_function("block_hash_hex", |b| {
        b.iter(|| ring.block_hash(black_box(ip)))
    });

    let trusted = TrustedProxies::parse("10.0.0.0/8, 192.168.0.0/16").expect("proxies");
    let peer: SocketAddr = "10.0.0.1:443".parse().expect("addr");
    g.bench_function("extract_xff_3_hops", |b| {
        b.iter(|| {
            extract_client_ip(
                Some(black_box(peer)),
                Some(black_box("203.0.113.9, 198.51.100.7, 10.1.2.3")),
                &trusted,
            )
        })
    });

    // Tag and seal through the public API: a RequestIp from a one-request app.
    let sys = actix_web::rt::System::new();
    let st = state(0, "");
    let rip = capture_request_ip(&sys, &st);
    g.bench_function("tag_uncached", |b| {
        b.iter(|| {
            // Bypasses the per-request cache, so this is the HMAC itself.
            black_box(rip.recompute_tag())
        })
    });
    g.bench_function("seal", |b| {
        b.iter(|| rip.seal(black_box("failed_login"), at))
    });
    let sealed = rip.seal("failed_login", at);
    let ring = st.sealing_keys();
    g.bench_function("open", |b| {
        b.iter(|| ring.open(black_box(sealed.as_bytes()), "failed_login", at))
    });
    g.finish();
}

/// Gets a RequestIp out of a request through the middleware.
fn capture_request_ip(sys: &actix_web::rt::SystemRunner, st: &Arc<IpState>) -> RequestIp {
    let slot: Arc<std::sync::Mutex<Option<RequestIp>>> = Arc::default();
    let s2 = slot.clone();
    let app = sys.block_on(test::init_service(
        App::new().wrap(IpLayer::new(st.clone())).route(
            "/",
            web::get().to(move |rip: RequestIp| {
                let s3 = s2.clone();
                async move {
                    *s3.lock().expect("bench lock") = Some(rip);
                    HttpResponse::Ok().finish()
                }
            }),
        ),
    ));
    let req = test::TestRequest::get()
        .uri("/")
        .peer_addr("198.51.100.7:1".parse().expect("addr"))
        .to_request();
    let _ = sys.block_on(test::call_service(&app, req));
    let rip = slot.lock().expect("bench lock").take();
    rip.expect("handler ran")
}

criterion_group!(benches, bench_middleware, bench_parts);
criterion_main!(benches);
