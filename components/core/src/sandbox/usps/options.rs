//! USPS Shipping Options: `POST /shipments/v3/options/search`, the delivery dates.

use super::prices::{CLASSES, MailClass, class_price, mail_class, parcel, price_type, rate};
use crate::sandbox::Carrier;
use crate::sandbox::call::Call;
use crate::sandbox::dates;
use crate::sandbox::failure::Failure;
use crate::sandbox::fields::{self, list, text};
use serde_json::{Value, json};

pub(super) fn shipping_options(call: &Call<'_>) -> Result<Value, Failure> {
    let body = call.json()?;
    let description = fields::get(&body, "packageDescription")
        .filter(|d| d.is_object())
        .ok_or_else(|| Failure::missing("packageDescription"))?;
    let parcel = parcel(call, &body, description, "packageDescription")?;
    let classes: Vec<&MailClass> = match text(description, "mailClass") {
        Some(code) => vec![mail_class(&code, "packageDescription.mailClass")?],
        None => CLASSES.iter().collect(),
    };
    let mut price_types = Vec::new();
    for (i, option) in list(body.get("pricingOptions")).iter().enumerate() {
        price_types.push(price_type(
            option,
            &format!("pricingOptions[{i}]"),
            "priceType",
        )?);
    }
    if price_types.is_empty() {
        price_types.push("RETAIL".into());
    }
    let zone = parcel.lane.zone(Carrier::Usps);
    let pricing_options: Vec<Value> = price_types
        .iter()
        .map(|price_type| {
            let shipping: Vec<Value> = classes
                .iter()
                .map(|class| {
                    let days = class.tariff.transit_days(zone);
                    let delivery = dates::add_business_days(parcel.mailing_date, days);
                    let price = class_price(&parcel, class, price_type).amount();
                    json!({
                        "mailClass": class.code,
                        "rateOptions": [{
                            "commitment": {
                                "name": if days == 1 { "1 Day".to_string() } else { format!("{days} Days") },
                                "scheduleDeliveryDate": dates::iso(delivery),
                                "guaranteedDelivery": class.code == "PRIORITY_MAIL_EXPRESS",
                            },
                            "totalPrice": price,
                            "totalBasePrice": price,
                            "rates": [rate(&parcel, class, price_type, class.name)],
                        }],
                    })
                })
                .collect();
            json!({ "priceType": price_type, "shippingOptions": shipping })
        })
        .collect();
    Ok(json!({
        "originZIPCode": parcel.lane.origin.postal,
        "destinationZIPCode": parcel.lane.destination.postal,
        "pricingOptions": pricing_options,
    }))
}
