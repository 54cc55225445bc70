//! The light and temperature sensors. The AN385 has none, so they follow the emulated
//! board's waveform over firmware time: light 200 ± 150 over a minute, temperature
//! 21.50 ± 3.00 °C over two minutes. Overriding them from the harness is left to the
//! network slice (the emulated board does it over its control socket; QEMU has none).

use firmware_under_test::telemetry::SensorReading;
use firmware_under_test::time::Instant;

/// The sensors' reading at `now`.
pub fn read(now: Instant) -> SensorReading {
    let t = now.millis() as f64 / 1000.0;
    let tau = core::f64::consts::TAU;
    let light = 200.0 + 150.0 * libm::sin(tau * t / 60.0);
    let temp = 2150.0 + 300.0 * libm::sin(tau * t / 120.0);
    SensorReading {
        light: libm::round(light) as u32,
        centi_celsius: libm::round(temp) as i32,
    }
}
