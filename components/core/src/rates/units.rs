//! Weights and lengths in the units a carrier wants, rounded up to the precision it
//! accepts (rounding up never declares a parcel lighter or smaller than it is).

use super::request::{Dimensions, LengthUnit, Weight, WeightUnit};

/// Exact by definition (international yard and pound, 1959).
const KG_PER_LB: f64 = 0.453_592_37;
const CM_PER_IN: f64 = 2.54;

/// A system of units, as DHL's `unitOfMeasurement` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitSystem {
    /// kg and cm.
    Metric,
    /// lb and in.
    Imperial,
}

impl UnitSystem {
    /// What carriers expect for a shipment from `country`: imperial from the US and
    /// Puerto Rico, metric elsewhere.
    pub fn for_origin(country: &str) -> UnitSystem {
        if matches!(country, "US" | "PR") {
            UnitSystem::Imperial
        } else {
            UnitSystem::Metric
        }
    }

    pub fn weight_unit(self) -> WeightUnit {
        match self {
            UnitSystem::Metric => WeightUnit::Kg,
            UnitSystem::Imperial => WeightUnit::Lb,
        }
    }

    pub fn length_unit(self) -> LengthUnit {
        match self {
            UnitSystem::Metric => LengthUnit::Cm,
            UnitSystem::Imperial => LengthUnit::In,
        }
    }
}

/// The weight in `unit`.
pub fn weight_in(weight: &Weight, unit: WeightUnit) -> f64 {
    match (weight.unit, unit) {
        (WeightUnit::Kg, WeightUnit::Lb) => weight.value / KG_PER_LB,
        (WeightUnit::Lb, WeightUnit::Kg) => weight.value * KG_PER_LB,
        _ => weight.value,
    }
}

/// The three sides in `unit`: `[length, width, height]`.
pub fn sides_in(dimensions: &Dimensions, unit: LengthUnit) -> [f64; 3] {
    let factor = match (dimensions.unit, unit) {
        (LengthUnit::Cm, LengthUnit::In) => 1.0 / CM_PER_IN,
        (LengthUnit::In, LengthUnit::Cm) => CM_PER_IN,
        _ => 1.0,
    };
    [
        dimensions.length * factor,
        dimensions.width * factor,
        dimensions.height * factor,
    ]
}

/// `value` rounded up to `places` decimals (at least one unit of the last place). A
/// hair of float noise (`0.1 * 3`) does not push a value up a step.
pub fn round_up(value: f64, places: u32) -> f64 {
    let scale = 10f64.powi(places as i32);
    let steps = (value * scale - 1e-6).ceil().max(1.0);
    steps / scale
}

/// A rounded value as carriers write it in strings: no exponent, no trailing zeros
/// (`2.5`, `10`).
pub fn decimal_text(value: f64, places: u32) -> String {
    let text = format!("{:.*}", places as usize, round_up(value, places));
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// A rounded value as a JSON number (integral values without a fraction).
pub fn json_number(value: f64, places: u32) -> serde_json::Value {
    let rounded = round_up(value, places);
    if rounded.fract() == 0.0 && rounded < 1e15 {
        serde_json::Value::from(rounded as u64)
    } else {
        serde_json::Value::from(rounded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_and_rounds_up() {
        let w = Weight {
            value: 1.0,
            unit: WeightUnit::Kg,
        };
        assert_eq!(decimal_text(weight_in(&w, WeightUnit::Lb), 1), "2.3");
        let w = Weight {
            value: 2.5,
            unit: WeightUnit::Lb,
        };
        assert_eq!(decimal_text(weight_in(&w, WeightUnit::Lb), 1), "2.5");
        assert_eq!(decimal_text(weight_in(&w, WeightUnit::Kg), 3), "1.134");
        let d = Dimensions {
            length: 30.0,
            width: 20.0,
            height: 10.0,
            unit: LengthUnit::Cm,
        };
        let [l, w, h] = sides_in(&d, LengthUnit::In);
        assert_eq!(
            [decimal_text(l, 0), decimal_text(w, 0), decimal_text(h, 0)],
            ["12", "8", "4"]
        );
        assert_eq!(
            decimal_text(0.1 * 3.0, 1),
            "0.3",
            "float noise is not a step"
        );
        assert_eq!(decimal_text(0.01, 0), "1", "never rounds to zero");
        assert_eq!(json_number(10.0, 0), serde_json::json!(10));
        assert_eq!(json_number(2.25, 1), serde_json::json!(2.3));
    }
}
