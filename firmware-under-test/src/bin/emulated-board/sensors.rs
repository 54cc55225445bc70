//! Emulated light and temperature sensors: a deterministic waveform over firmware time,
//! which the control channel can override.

use firmware_under_test::telemetry::SensorReading;
use firmware_under_test::time::Instant;
use std::sync::{Arc, Mutex};

/// Shared sensor state: the current firmware time and an optional override.
#[derive(Clone, Default)]
pub struct Sensors {
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    now: Instant,
    light: Option<u32>,
    centi_celsius: Option<i32>,
}

impl Sensors {
    /// Records the firmware time the next reading is taken at.
    pub fn set_time(&self, now: Instant) {
        self.lock().now = now;
    }

    /// Overrides the light reading (None: back to the waveform).
    pub fn set_light(&self, light: Option<u32>) {
        self.lock().light = light;
    }

    /// Overrides the temperature, in hundredths of a degree (None: back to the waveform).
    pub fn set_temperature(&self, centi_celsius: Option<i32>) {
        self.lock().centi_celsius = centi_celsius;
    }

    /// The reading now: light swings 50..350 over a minute, temperature 18.50..24.50 °C
    /// over two minutes.
    pub fn read(&self) -> SensorReading {
        let state = self.lock();
        let t = state.now.millis() as f64 / 1000.0;
        let tau = std::f64::consts::TAU;
        let light = 200.0 + 150.0 * (tau * t / 60.0).sin();
        let temp = 2150.0 + 300.0 * (tau * t / 120.0).sin();
        SensorReading {
            light: state.light.unwrap_or(light.round() as u32),
            centi_celsius: state.centi_celsius.unwrap_or(temp.round() as i32),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}
