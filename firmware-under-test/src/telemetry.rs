//! Telemetry payload: the JSON document the board publishes on `<thing>/sensors`.
//!
//! Owns only the formatting, `{"Light":<int>,"Temp":<float with 2 decimals>}`, into a
//! fixed-capacity buffer. When to publish and on which topic is the application's job.
//! Temperatures are kept in hundredths of a degree so no floating point is needed, and
//! negative values between -1 and 0 keep their sign (`-0.05`), a bug of the original
//! Microchip firmware that printed them as `0.-5`.

use core::fmt::Write;

/// Capacity of a formatted payload; the longest possible document fits.
pub const PAYLOAD_CAPACITY: usize = 64;

/// A formatted telemetry payload.
pub type Payload = heapless::String<PAYLOAD_CAPACITY>;

/// One sample of the board's sensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SensorReading {
    /// Ambient light, raw ADC counts.
    pub light: u32,
    /// Temperature in hundredths of a degree Celsius (`-705` is -7.05 °C).
    pub centi_celsius: i32,
}

/// The payload did not fit its buffer; cannot happen for any [`SensorReading`], but the
/// formatter reports it instead of panicking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayloadTooLong;

impl core::fmt::Display for PayloadTooLong {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("telemetry payload does not fit its buffer")
    }
}

/// Formats `reading` as the compact JSON document the cloud expects.
pub fn payload(reading: SensorReading) -> Result<Payload, PayloadTooLong> {
    let mut out = Payload::new();
    let sign = if reading.centi_celsius < 0 { "-" } else { "" };
    let magnitude = reading.centi_celsius.unsigned_abs();
    write!(
        out,
        "{{\"Light\":{},\"Temp\":{}{}.{:02}}}",
        reading.light,
        sign,
        magnitude / 100,
        magnitude % 100
    )
    .map_err(|_| PayloadTooLong)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(light: u32, centi_celsius: i32) -> Payload {
        payload(SensorReading {
            light,
            centi_celsius,
        })
        .unwrap()
    }

    #[test]
    fn positive_temperature_has_two_decimals() {
        assert_eq!(render(412, 2350).as_str(), r#"{"Light":412,"Temp":23.50}"#);
        assert_eq!(render(0, 7).as_str(), r#"{"Light":0,"Temp":0.07}"#);
    }

    #[test]
    fn negative_temperatures_keep_their_sign() {
        assert_eq!(render(1, -705).as_str(), r#"{"Light":1,"Temp":-7.05}"#);
        assert_eq!(render(1, -5).as_str(), r#"{"Light":1,"Temp":-0.05}"#);
    }

    #[test]
    fn extremes_fit_the_buffer() {
        let text = render(u32::MAX, i32::MIN);
        assert_eq!(text.as_str(), r#"{"Light":4294967295,"Temp":-21474836.48}"#);
    }
}
