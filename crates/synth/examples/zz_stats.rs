#![allow(clippy::print_stdout, clippy::unwrap_used, missing_docs)]
use std::time::Instant;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (w, h): (u32, u32) = (args[1].parse().unwrap(), args[2].parse().unwrap());
    for seed in 1..=6u64 {
        let cfg = pigweight_synth::VideoConfig {
            width: w,
            height: h,
            seed,
            ..Default::default()
        };
        let t0 = Instant::now();
        let mut pen = pigweight_synth::Pen::new(&cfg).unwrap();
        let setup = t0.elapsed();
        let t1 = Instant::now();
        let counts: Vec<u32> = (0..1500).map(|i| pen.render(i).1.count).collect();
        let per = t1.elapsed().as_secs_f64() * 1000.0 / 1500.0;
        let changes = counts.windows(2).filter(|c| c[0] != c[1]).count();
        let mean = counts.iter().sum::<u32>() as f64 / 1500.0;
        println!(
            "seed {seed}: pigs {} setup {:?} {per:.2} ms/frame, changes {changes}, min {} max {} mean {mean:.1}",
            pen.pig_count(),
            setup,
            counts.iter().min().unwrap(),
            counts.iter().max().unwrap()
        );
    }
}
