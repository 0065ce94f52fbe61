//! Criterion benches of the sans-IO HTTP/1 codec: parse + serialise a browser request
//! and a response head, and decode a 64 KiB chunked body in 4 KiB chunks.
//!
//! A counting global allocator measures allocations per iteration; steady-state
//! parse + serialise and body decoding must allocate nothing (checked before the
//! timed runs, printed, and asserted).

use criterion::{black_box, Criterion, Throughput};
use dataplane::h1::{
    parse_request, parse_response, write_request, write_response, BodyDecoder, BodyKind, BodyStep,
    Limits, Method, Parsed, RequestHead, ResponseHead,
};
use perf::{chunked_body, BROWSER_REQUEST, TYPICAL_RESPONSE_HEAD};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Counts allocations (and reallocations) made through the global allocator.
struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so
// `System`'s guarantees hold; the counter is a relaxed atomic with no other effect.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Relaxed);
        // SAFETY: same contract as our caller's (forwarded).
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was returned by `System` through this allocator with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Relaxed);
        // SAFETY: `ptr`/`layout` come from `System` through this allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by `iters` runs of `f`, after one warm-up run.
fn allocations_per_iter(iters: usize, mut f: impl FnMut()) -> f64 {
    f();
    let before = ALLOCATIONS.load(Relaxed);
    for _ in 0..iters {
        f();
    }
    (ALLOCATIONS.load(Relaxed) - before) as f64 / iters as f64
}

struct ReqCtx {
    limits: Limits,
    head: RequestHead,
    out: Vec<u8>,
}

fn request_round(ctx: &mut ReqCtx) -> usize {
    let Ok(Parsed::Complete { head_len }) =
        parse_request(black_box(BROWSER_REQUEST), &ctx.limits, &mut ctx.head)
    else {
        panic!("sample request does not parse");
    };
    ctx.out.clear();
    write_request(&ctx.head, &mut ctx.out);
    head_len + ctx.out.len()
}

struct RespCtx {
    limits: Limits,
    head: ResponseHead,
    out: Vec<u8>,
}

fn response_round(ctx: &mut RespCtx) -> usize {
    let Ok(Parsed::Complete { head_len }) = parse_response(
        black_box(TYPICAL_RESPONSE_HEAD),
        &ctx.limits,
        Method::Get,
        &mut ctx.head,
    ) else {
        panic!("sample response does not parse");
    };
    ctx.out.clear();
    write_response(&ctx.head, &mut ctx.out);
    head_len + ctx.out.len()
}

fn decode_chunked(wire: &[u8], limits: &Limits) -> usize {
    let mut dec = BodyDecoder::response(BodyKind::Chunked, limits);
    let (mut pos, mut total) = (0, 0);
    loop {
        let d = dec.decode(&wire[pos..]).expect("valid chunked body");
        match d.step {
            BodyStep::Data { start, end } => {
                total += black_box(&wire[pos + start..pos + end]).len()
            }
            BodyStep::End => return total,
            BodyStep::NeedMore => panic!("truncated sample"),
            BodyStep::Trailers { .. } => {}
        }
        pos += d.consumed;
    }
}

fn check_zero_allocations(wire: &[u8]) {
    let mut req = ReqCtx {
        limits: Limits::default(),
        head: RequestHead::new(),
        out: Vec::new(),
    };
    let mut resp = RespCtx {
        limits: Limits::default(),
        head: ResponseHead::new(),
        out: Vec::new(),
    };
    let limits = Limits::default();
    let a_req = allocations_per_iter(1000, || {
        black_box(request_round(&mut req));
    });
    let a_resp = allocations_per_iter(1000, || {
        black_box(response_round(&mut resp));
    });
    let a_body = allocations_per_iter(100, || {
        black_box(decode_chunked(wire, &limits));
    });
    println!("allocations per iteration: request parse+serialise {a_req}, response parse+serialise {a_resp}, chunked 64KiB decode {a_body}");
    assert_eq!(
        a_req, 0.0,
        "request parse+serialise allocates in steady state"
    );
    assert_eq!(
        a_resp, 0.0,
        "response parse+serialise allocates in steady state"
    );
    assert_eq!(a_body, 0.0, "chunked decode allocates");
}

fn main() {
    let wire = chunked_body(64 * 1024, 4 * 1024);
    check_zero_allocations(&wire);

    let mut c = Criterion::default().configure_from_args();
    let mut g = c.benchmark_group("h1");
    g.throughput(Throughput::Bytes(BROWSER_REQUEST.len() as u64));
    let mut req = ReqCtx {
        limits: Limits::default(),
        head: RequestHead::new(),
        out: Vec::new(),
    };
    g.bench_function("request_parse_serialise", |b| {
        b.iter(|| request_round(&mut req))
    });
    g.throughput(Throughput::Bytes(TYPICAL_RESPONSE_HEAD.len() as u64));
    let mut resp = RespCtx {
        limits: Limits::default(),
        head: ResponseHead::new(),
        out: Vec::new(),
    };
    g.bench_function("response_parse_serialise", |b| {
        b.iter(|| response_round(&mut resp))
    });
    g.throughput(Throughput::Bytes(wire.len() as u64));
    let limits = Limits::default();
    g.bench_function("chunked_decode_64k_in_4k", |b| {
        b.iter(|| decode_chunked(&wire, &limits))
    });
    g.finish();
    c.final_summary();
}
