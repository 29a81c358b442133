#![allow(clippy::print_stdout, clippy::unwrap_used, missing_docs)]
fn main() {
    let cfg = pigweight_synth::VideoConfig {
        seed: 2,
        ..Default::default()
    };
    let mut pen = pigweight_synth::Pen::new(&cfg).unwrap();
    let t = std::time::Instant::now();
    for i in 0..300 {
        std::hint::black_box(pen.render(i));
    }
    println!("{:.2} ms/frame", t.elapsed().as_secs_f64() * 1000.0 / 300.0);
}
