//! Business hours: when a team or a channel is at work, in its own time zone, with
//! several periods a day (split shifts) and holidays. "Always open" is a calendar
//! too. From the config's `[calendars.<name>]`.

use std::collections::BTreeSet;

use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use serde::Deserialize;

use crate::model::Timestamp;

/// A calendar as the config writes it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarConfig {
    /// An IANA time zone (`Asia/Kuala_Lumpur`), from the system's time zone database.
    pub time_zone: Option<String>,
    /// Open around the clock, every day (holidays aside).
    #[serde(default)]
    pub always: bool,
    #[serde(default)]
    pub monday: Vec<String>,
    #[serde(default)]
    pub tuesday: Vec<String>,
    #[serde(default)]
    pub wednesday: Vec<String>,
    #[serde(default)]
    pub thursday: Vec<String>,
    #[serde(default)]
    pub friday: Vec<String>,
    #[serde(default)]
    pub saturday: Vec<String>,
    #[serde(default)]
    pub sunday: Vec<String>,
    /// Closed all day: `YYYY-MM-DD` in the calendar's time zone.
    #[serde(default)]
    pub holidays: Vec<String>,
}

/// Open periods of a day, `[start, end)` in minutes since midnight (end up to 1440).
type Periods = Vec<(u16, u16)>;

#[derive(Debug, Clone)]
pub struct Calendar {
    zone: TimeZone,
    /// Monday first.
    week: [Periods; 7],
    holidays: BTreeSet<Date>,
}

const DAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// `HH:MM`, or `24:00` for the end of the day: minutes since midnight.
fn minutes(text: &str) -> Option<u16> {
    let (h, m) = text.trim().split_once(':')?;
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
}

impl Calendar {
    /// Open at every moment.
    pub fn always() -> Calendar {
        Calendar {
            zone: TimeZone::UTC,
            week: std::array::from_fn(|_| vec![(0, 1440)]),
            holidays: BTreeSet::new(),
        }
    }

    /// Checks a config; the error names the key at fault, relative to the calendar.
    pub fn from_config(config: &CalendarConfig) -> Result<Calendar, (String, String)> {
        let zone = match &config.time_zone {
            Some(name) => TimeZone::get(name).map_err(|e| {
                (
                    "time_zone".to_owned(),
                    format!("{name:?} is not a known time zone (an IANA name such as \"Asia/Kuala_Lumpur\"): {e}"),
                )
            })?,
            None => TimeZone::UTC,
        };
        let given = [
            &config.monday,
            &config.tuesday,
            &config.wednesday,
            &config.thursday,
            &config.friday,
            &config.saturday,
            &config.sunday,
        ];
        let mut week: [Periods; 7] = Default::default();
        for (day, (periods, name)) in given.iter().zip(DAYS).enumerate() {
            if config.always && !periods.is_empty() {
                return Err((
                    name.to_owned(),
                    "an always-open calendar has no periods".into(),
                ));
            }
            for period in periods.iter() {
                let parsed = period.split_once('-').and_then(|(start, end)| {
                    let (start, end) = (minutes(start)?, minutes(end)?);
                    (start < end && start < 1440).then_some((start, end))
                });
                let Some((start, end)) = parsed else {
                    return Err((
                        name.to_owned(),
                        format!(
                            "{period:?} is not a period like \"09:00-13:00\" (24:00 ends the day)"
                        ),
                    ));
                };
                if week[day].iter().any(|&(s, e)| start < e && s < end) {
                    return Err((
                        name.to_owned(),
                        format!("{period:?} overlaps another period"),
                    ));
                }
                week[day].push((start, end));
            }
            week[day].sort_unstable();
        }
        if config.always {
            week = std::array::from_fn(|_| vec![(0, 1440)]);
        }
        let mut holidays = BTreeSet::new();
        for holiday in &config.holidays {
            let date: Date = holiday.parse().map_err(|_| {
                (
                    "holidays".to_owned(),
                    format!("{holiday:?} is not a date like \"2026-12-25\""),
                )
            })?;
            holidays.insert(date);
        }
        if week.iter().all(Vec::is_empty) {
            return Err((
                "monday".to_owned(),
                "the calendar is never open: give periods for at least one day, or always = true"
                    .into(),
            ));
        }
        Ok(Calendar {
            zone,
            week,
            holidays,
        })
    }

    fn local(&self, at: Timestamp) -> Option<(Date, u16)> {
        let instant = jiff::Timestamp::from_millisecond(at.0).ok()?;
        let local = instant.to_zoned(self.zone.clone());
        let time: Time = local.time();
        Some((local.date(), time.hour() as u16 * 60 + time.minute() as u16))
    }

    fn periods(&self, date: Date) -> &[(u16, u16)] {
        if self.holidays.contains(&date) {
            return &[];
        }
        let day = match date.weekday() {
            Weekday::Monday => 0,
            Weekday::Tuesday => 1,
            Weekday::Wednesday => 2,
            Weekday::Thursday => 3,
            Weekday::Friday => 4,
            Weekday::Saturday => 5,
            Weekday::Sunday => 6,
        };
        &self.week[day]
    }

    /// Whether the calendar is open at `at`.
    pub fn is_open(&self, at: Timestamp) -> bool {
        let Some((date, minute)) = self.local(at) else {
            return false;
        };
        self.periods(date)
            .iter()
            .any(|&(start, end)| start <= minute && minute < end)
    }

    /// When the calendar next opens after `at` (`at` itself when open), looking up
    /// to 400 days ahead.
    pub fn next_open(&self, at: Timestamp) -> Option<Timestamp> {
        if self.is_open(at) {
            return Some(at);
        }
        let (today, minute) = self.local(at)?;
        let mut date = today;
        for _ in 0..400 {
            let start = self
                .periods(date)
                .iter()
                .map(|&(start, _)| start)
                .find(|&start| date != today || start > minute);
            if let Some(start) = start {
                let time = Time::new((start / 60) as i8, (start % 60) as i8, 0, 0).ok()?;
                // A start that a daylight-saving jump skips opens at the jump.
                let zoned = date.to_datetime(time).to_zoned(self.zone.clone()).ok()?;
                return Some(Timestamp(zoned.timestamp().as_millisecond()));
            }
            date = date.tomorrow().ok()?;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        let instant: jiff::Timestamp = text.parse().unwrap();
        Timestamp(instant.as_millisecond())
    }

    fn kuala_lumpur() -> Calendar {
        Calendar::from_config(&CalendarConfig {
            time_zone: Some("Asia/Kuala_Lumpur".into()),
            monday: vec!["09:00-13:00".into(), "14:00-18:00".into()],
            tuesday: vec!["09:00-13:00".into(), "14:00-18:00".into()],
            saturday: vec!["10:00-24:00".into()],
            holidays: vec!["2026-12-08".into()],
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn split_shifts_in_the_calendars_time_zone() {
        let calendar = kuala_lumpur();
        // Monday 2026-12-07, 09:30 in Kuala Lumpur (UTC+8) is 01:30 UTC.
        assert!(calendar.is_open(at("2026-12-07T01:30:00Z")));
        // The lunch break.
        assert!(!calendar.is_open(at("2026-12-07T05:30:00Z")));
        assert!(calendar.is_open(at("2026-12-07T06:00:00Z")));
        // 18:00 closes.
        assert!(!calendar.is_open(at("2026-12-07T10:00:00Z")));
        // Saturday until midnight.
        assert!(calendar.is_open(at("2026-12-12T15:59:00Z")));
        assert!(!calendar.is_open(at("2026-12-12T16:00:00Z")));
    }

    #[test]
    fn holidays_are_closed_and_the_next_opening_skips_them() {
        let calendar = kuala_lumpur();
        // Tuesday 2026-12-08 is a holiday.
        assert!(!calendar.is_open(at("2026-12-08T02:00:00Z")));
        // After Monday's close, the next opening is Saturday 10:00 local.
        assert_eq!(
            calendar.next_open(at("2026-12-07T10:00:00Z")),
            Some(at("2026-12-12T02:00:00Z"))
        );
        // In the lunch break, the afternoon.
        assert_eq!(
            calendar.next_open(at("2026-12-07T05:30:00Z")),
            Some(at("2026-12-07T06:00:00Z"))
        );
    }

    #[test]
    fn bad_calendars_are_refused_by_key() {
        let refused = |config: CalendarConfig| Calendar::from_config(&config).unwrap_err();
        assert_eq!(
            refused(CalendarConfig {
                time_zone: Some("Mars/Olympus".into()),
                always: true,
                ..Default::default()
            })
            .0,
            "time_zone"
        );
        for bad in ["9-5", "13:00-09:00", "09:00-24:30", "25:00-26:00"] {
            let (key, message) = refused(CalendarConfig {
                friday: vec![bad.into()],
                ..Default::default()
            });
            assert_eq!(key, "friday", "{bad}: {message}");
        }
        let (key, _) = refused(CalendarConfig {
            monday: vec!["09:00-12:00".into(), "11:00-13:00".into()],
            ..Default::default()
        });
        assert_eq!(key, "monday");
        assert_eq!(refused(CalendarConfig::default()).0, "monday");
        assert_eq!(
            refused(CalendarConfig {
                always: true,
                holidays: vec!["25/12/2026".into()],
                ..Default::default()
            })
            .0,
            "holidays"
        );
    }

    #[test]
    fn always_is_always_open() {
        let calendar = Calendar::from_config(&CalendarConfig {
            always: true,
            ..Default::default()
        })
        .unwrap();
        assert!(calendar.is_open(at("2026-12-25T03:00:00Z")));
        assert!(Calendar::always().is_open(at("2026-01-01T00:00:00Z")));
    }
}
