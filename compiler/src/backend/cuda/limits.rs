//! The peaks a GPU can reach, from its attributes, to set `hsc bench`'s achieved rates beside
//! (the work of a step is a kernel fact: `kernel::info::cost`). Needs no driver, so it is built
//! without the `cuda` feature too.

/// What a GPU can do at most, from its attributes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limits {
    /// Floating-point operations per second in f32 (an FMA counts two).
    pub f32_flops: f64,
    /// The same in f64.
    pub f64_flops: f64,
    /// Bytes per second to and from device memory.
    pub bandwidth: f64,
}

impl Limits {
    /// From the multiprocessor count, the clocks (kHz), the memory bus width (bits) and the
    /// compute capability (the FP32 and FP64 lanes per multiprocessor of the CUDA
    /// programming guide's throughput table); `None` for an unknown architecture.
    pub fn new(
        sms: i32,
        clock_khz: i32,
        mem_clock_khz: i32,
        bus_bits: i32,
        cc: (i32, i32),
    ) -> Option<Limits> {
        let (fp32, fp64) = match cc {
            (7, 0) | (8, 0) => (64.0, 32.0),
            (7, _) => (64.0, 2.0),
            (8, _) | (12, _) => (128.0, 2.0),
            (9, 0) | (10, _) => (128.0, 64.0),
            _ => return None,
        };
        if sms <= 0 || clock_khz <= 0 || mem_clock_khz <= 0 || bus_bits <= 0 {
            return None;
        }
        let lanes = |l: f64| f64::from(sms) * l * 2.0 * f64::from(clock_khz) * 1e3;
        Some(Limits {
            f32_flops: lanes(fp32),
            f64_flops: lanes(fp64),
            // Double data rate: two transfers per memory clock.
            bandwidth: 2.0 * f64::from(mem_clock_khz) * 1e3 * f64::from(bus_bits) / 8.0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Limits;

    /// An H100 SXM's attributes (132 SMs, 1980 MHz, 2619 MHz HBM3 on a 5120-bit bus) give its
    /// datasheet figures: 67 TFLOP/s f32, 33.5 f64, 3.35 TB/s.
    #[test]
    fn h100_limits_are_the_datasheets() {
        let l = Limits::new(132, 1_980_000, 2_619_000, 5120, (9, 0)).unwrap();
        assert!((l.f32_flops / 1e12 - 66.9).abs() < 0.1, "{}", l.f32_flops);
        assert!((l.f64_flops / 1e12 - 33.5).abs() < 0.1, "{}", l.f64_flops);
        assert!((l.bandwidth / 1e12 - 3.35).abs() < 0.01, "{}", l.bandwidth);
        assert_eq!(Limits::new(132, 0, 2_619_000, 5120, (9, 0)), None);
        assert_eq!(Limits::new(132, 1_980_000, 2_619_000, 5120, (42, 0)), None);
    }
}
