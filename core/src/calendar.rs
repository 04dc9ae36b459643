//! Business hours: when a team or a channel is at work, in its own time zone, with
//! several periods a day (split shifts) and holidays. "Always open" is a calendar
//! too. From the config's `[calendars.<name>]`.
//!
//! Business time (for SLAs) counts only open milliseconds, worked out one local day
//! at a time: a day's periods become instants in the calendar's zone, so days of 23
//! or 25 hours around a daylight-saving change count what the clocks really run.

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

    /// The local date of an instant; instants beyond the years jiff supports (which no
    /// message carries) are taken at its limits.
    fn local_date(&self, at: i64) -> Date {
        let instant = jiff::Timestamp::from_millisecond(at).unwrap_or(if at < 0 {
            jiff::Timestamp::MIN
        } else {
            jiff::Timestamp::MAX
        });
        self.zone.to_datetime(instant).date()
    }

    /// The instant of a wall-clock minute of `date` (1440: the next midnight). A time a
    /// daylight-saving jump skips or repeats takes jiff's compatible choice: the
    /// offset before a gap (so 01:30 in a one-hour gap is 02:30 after it), the first
    /// of two repeated times.
    fn instant(&self, date: Date, minute: u16) -> Option<i64> {
        let (date, minute) = if minute >= 1440 {
            (date.tomorrow().ok()?, minute - 1440)
        } else {
            (date, minute)
        };
        let time = Time::new((minute / 60) as i8, (minute % 60) as i8, 0, 0).ok()?;
        let instant = self.zone.to_timestamp(date.to_datetime(time)).ok()?;
        Some(instant.as_millisecond())
    }

    /// The open time of one local day as `[start, end)` instants in milliseconds, in
    /// order and disjoint, within the day (its midnight to the next). Around a
    /// daylight-saving jump the instants of a day's periods can come out of order or
    /// overlap (a period starting in a gap starts after the gap, a period after it can
    /// start earlier); each period is cut to begin where the one before ended, and
    /// one left with no time counts none: time is never counted twice or negative.
    fn open_intervals(&self, date: Date, out: &mut Vec<(i64, i64)>) {
        out.clear();
        let periods = self.periods(date);
        if periods.is_empty() {
            return;
        }
        let (Some(day_start), Some(day_end)) = (self.instant(date, 0), self.instant(date, 1440))
        else {
            return;
        };
        let mut cursor = day_start;
        for &(start, end) in periods {
            let (Some(start), Some(end)) = (self.instant(date, start), self.instant(date, end))
            else {
                continue;
            };
            let (start, end) = (start.max(cursor), end.min(day_end));
            if end > start {
                out.push((start, end));
                cursor = end;
            }
        }
    }

    /// Calls `visit` with each open interval of the local days from the day before
    /// `from`'s (a day's intervals can begin before its date shows, around a
    /// daylight-saving jump at midnight) through `days` days after it, in order, until
    /// `visit` says stop.
    fn each_interval(&self, from: i64, days: u32, mut visit: impl FnMut(i64, i64) -> bool) {
        let today = self.local_date(from);
        let mut date = today.yesterday().unwrap_or(today);
        let mut intervals = Vec::new();
        for _ in 0..=days + 1 {
            self.open_intervals(date, &mut intervals);
            for &(start, end) in &intervals {
                if !visit(start, end) {
                    return;
                }
            }
            match date.tomorrow() {
                Ok(next) => date = next,
                Err(_) => return,
            }
        }
    }

    /// Open every moment of every day: business time is wall-clock time.
    fn is_always(&self) -> bool {
        self.holidays.is_empty() && self.week.iter().all(|day| day[..] == [(0, 1440)])
    }

    /// Whether the calendar is open at `at`.
    pub fn is_open(&self, at: Timestamp) -> bool {
        let mut open = false;
        self.each_interval(at.0, 1, |start, end| {
            open = start <= at.0 && at.0 < end;
            !open && start <= at.0
        });
        open
    }

    /// When the calendar next opens after `at` (`at` itself when open), looking up
    /// to 400 days ahead.
    pub fn next_open(&self, at: Timestamp) -> Option<Timestamp> {
        self.add_business(at, 0)
    }

    /// Open milliseconds in [from, to) (0 when to <= from).
    pub fn business_between(&self, from: Timestamp, to: Timestamp) -> i64 {
        if to <= from {
            return 0;
        }
        if self.is_always() {
            return to.0.saturating_sub(from.0);
        }
        let (from, to) = (from.0, to.0);
        let mut total = 0i64;
        let mut date = {
            let today = self.local_date(from);
            today.yesterday().unwrap_or(today)
        };
        let mut intervals = Vec::new();
        // Day by day until the day that begins at or after `to`.
        while self.instant(date, 0).is_some_and(|start| start < to) {
            self.open_intervals(date, &mut intervals);
            for &(start, end) in &intervals {
                let (start, end) = (start.max(from), end.min(to));
                if end > start {
                    total += end - start;
                }
            }
            match date.tomorrow() {
                Ok(next) => date = next,
                Err(_) => break,
            }
        }
        total
    }

    /// The instant at which `duration_ms` open milliseconds have passed since `start`
    /// (counting only open time; a start in closed time counts from the next opening).
    /// None when the calendar never opens again within 400 days, or when the instant
    /// lies further than that: deadlines are looked for day by day, up to 400 days
    /// after `start` (an always-open calendar answers at once, for any duration).
    /// duration 0 (or less) → next_open(start). A duration that ends exactly at a
    /// closing gives the closing, not the next opening.
    pub fn add_business(&self, start: Timestamp, duration_ms: i64) -> Option<Timestamp> {
        let duration = duration_ms.max(0);
        if self.is_always() {
            return start.0.checked_add(duration).map(Timestamp);
        }
        let mut remaining = duration;
        let mut found = None;
        self.each_interval(start.0, HORIZON_DAYS, |open, close| {
            if close <= start.0 {
                return true;
            }
            let open = open.max(start.0);
            if remaining <= close - open {
                found = Some(Timestamp(open + remaining));
                return false;
            }
            remaining -= close - open;
            true
        });
        found
    }
}

/// How far ahead openings and deadlines are looked for.
const HORIZON_DAYS: u32 = 400;

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

    fn weekdays(zone: &str, period: &str) -> CalendarConfig {
        let periods = vec![period.to_owned()];
        CalendarConfig {
            time_zone: Some(zone.into()),
            monday: periods.clone(),
            tuesday: periods.clone(),
            wednesday: periods.clone(),
            thursday: periods.clone(),
            friday: periods,
            ..Default::default()
        }
    }

    fn calendar(config: CalendarConfig) -> Calendar {
        Calendar::from_config(&config).unwrap()
    }

    const MINUTE: i64 = 60_000;
    const HOUR: i64 = 60 * MINUTE;

    #[test]
    fn business_time_skips_the_weekend() {
        let calendar = calendar(weekdays("Asia/Kuala_Lumpur", "09:00-18:00"));
        // Friday 2026-12-04 17:00 local, plus two hours: Monday 10:00.
        let friday = at("2026-12-04T09:00:00Z");
        let monday = at("2026-12-07T02:00:00Z");
        assert_eq!(calendar.add_business(friday, 2 * HOUR), Some(monday));
        assert_eq!(calendar.business_between(friday, monday), 2 * HOUR);
        // Saturday and Sunday count nothing.
        let saturday = at("2026-12-05T00:00:00Z");
        assert_eq!(
            calendar.business_between(saturday, at("2026-12-07T01:00:00Z")),
            0
        );
        assert_eq!(calendar.business_between(monday, friday), 0);
        assert_eq!(calendar.business_between(monday, monday), 0);
    }

    #[test]
    fn business_time_skips_holidays() {
        let calendar = kuala_lumpur();
        // Monday 2026-12-07 17:00 local: one hour that day, Tuesday is a holiday, and
        // the next opening is Saturday 10:00, two hours more: 12:00.
        let monday = at("2026-12-07T09:00:00Z");
        let saturday = at("2026-12-12T04:00:00Z");
        assert_eq!(calendar.add_business(monday, 3 * HOUR), Some(saturday));
        assert_eq!(calendar.business_between(monday, saturday), 3 * HOUR);
        // The whole holiday is closed.
        assert_eq!(
            calendar.business_between(at("2026-12-07T16:00:00Z"), at("2026-12-08T16:00:00Z")),
            0
        );
    }

    #[test]
    fn business_time_skips_the_lunch_break() {
        let calendar = kuala_lumpur();
        // Monday 12:30 local plus an hour: half an hour before lunch, half after.
        let before = at("2026-12-07T04:30:00Z");
        let after = at("2026-12-07T06:30:00Z");
        assert_eq!(calendar.add_business(before, HOUR), Some(after));
        assert_eq!(calendar.business_between(before, after), HOUR);
        // A whole Monday is eight hours.
        assert_eq!(
            calendar.business_between(at("2026-12-06T16:00:00Z"), at("2026-12-07T16:00:00Z")),
            8 * HOUR
        );
    }

    #[test]
    fn a_start_in_closed_time_counts_from_the_next_opening() {
        let calendar = kuala_lumpur();
        // 13:30, in the lunch break: 14:00 plus half an hour.
        let lunch = at("2026-12-07T05:30:00Z");
        assert_eq!(
            calendar.add_business(lunch, 30 * MINUTE),
            Some(at("2026-12-07T06:30:00Z"))
        );
        assert_eq!(
            calendar.add_business(lunch, 0),
            Some(at("2026-12-07T06:00:00Z"))
        );
        // Sunday night: Monday 09:00 plus a minute.
        assert_eq!(
            calendar.add_business(at("2026-12-06T12:00:00Z"), MINUTE),
            Some(at("2026-12-07T01:01:00Z"))
        );
        assert_eq!(
            calendar.business_between(lunch, at("2026-12-07T06:00:00Z")),
            0
        );
    }

    #[test]
    fn starting_exactly_at_an_opening_or_a_closing() {
        let calendar = kuala_lumpur();
        let opening = at("2026-12-07T01:00:00Z"); // Monday 09:00
        assert_eq!(calendar.add_business(opening, 0), Some(opening));
        // The morning's four hours end at the closing, 13:00, not at 14:00.
        let closing = at("2026-12-07T05:00:00Z");
        assert_eq!(calendar.add_business(opening, 4 * HOUR), Some(closing));
        assert_eq!(
            calendar.add_business(opening, 4 * HOUR + 1),
            Some(Timestamp(at("2026-12-07T06:00:00Z").0 + 1))
        );
        // From the closing, time runs from the afternoon's opening.
        assert!(!calendar.is_open(closing));
        assert_eq!(
            calendar.add_business(closing, 0),
            Some(at("2026-12-07T06:00:00Z"))
        );
        assert_eq!(
            calendar.add_business(closing, 1),
            Some(Timestamp(at("2026-12-07T06:00:00Z").0 + 1))
        );
        // Monday's last closing, 18:00: Tuesday is a holiday, so Saturday 10:00.
        let evening = at("2026-12-07T10:00:00Z");
        assert_eq!(
            calendar.add_business(evening, 0),
            Some(at("2026-12-12T02:00:00Z"))
        );
        assert_eq!(
            calendar.business_between(closing, at("2026-12-07T06:00:00Z")),
            0
        );
    }

    #[test]
    fn milliseconds_are_kept() {
        let calendar = kuala_lumpur();
        let start = Timestamp(at("2026-12-07T01:00:00Z").0 + 250);
        let end = calendar.add_business(start, 1_500).unwrap();
        assert_eq!(end, Timestamp(at("2026-12-07T01:00:01Z").0 + 750));
        assert_eq!(calendar.business_between(start, end), 1_500);
        // A millisecond before the lunch break is open, the break is not.
        assert!(calendar.is_open(Timestamp(at("2026-12-07T05:00:00Z").0 - 1)));
        assert!(!calendar.is_open(at("2026-12-07T05:00:00Z")));
        assert_eq!(
            calendar.business_between(
                Timestamp(at("2026-12-07T05:00:00Z").0 - 7),
                at("2026-12-07T06:00:00Z")
            ),
            7
        );
    }

    #[test]
    fn a_sunday_open_around_the_clock_across_daylight_saving_in_london() {
        let calendar = calendar(CalendarConfig {
            time_zone: Some("Europe/London".into()),
            sunday: vec!["00:00-24:00".into()],
            ..Default::default()
        });
        // 2026-03-29: clocks go forward an hour, the Sunday has 23 hours.
        let (saturday, monday) = (at("2026-03-28T12:00:00Z"), at("2026-03-30T12:00:00Z"));
        assert_eq!(calendar.business_between(saturday, monday), 23 * HOUR);
        // From its midnight (GMT), 24 hours need an hour of the next Sunday (BST).
        assert_eq!(
            calendar.add_business(at("2026-03-29T00:00:00Z"), 24 * HOUR),
            Some(at("2026-04-05T00:00:00Z"))
        );
        // 2026-10-25: clocks go back, the Sunday has 25 hours; its midnight is BST.
        let (saturday, monday) = (at("2026-10-24T12:00:00Z"), at("2026-10-26T12:00:00Z"));
        assert_eq!(calendar.business_between(saturday, monday), 25 * HOUR);
        assert_eq!(
            calendar.add_business(at("2026-10-24T23:00:00Z"), 24 * HOUR),
            Some(at("2026-10-25T23:00:00Z"))
        );
        // The repeated hour is open both times.
        assert!(calendar.is_open(at("2026-10-25T00:30:00Z")));
        assert!(calendar.is_open(at("2026-10-25T01:30:00Z")));
    }

    #[test]
    fn weekday_hours_across_daylight_saving_in_new_york() {
        let calendar = calendar(weekdays("America/New_York", "09:00-17:00"));
        // Friday 2026-03-06 16:00 EST; Monday 2026-03-09 10:00 EDT after the change.
        let (friday, monday) = (at("2026-03-06T21:00:00Z"), at("2026-03-09T14:00:00Z"));
        assert_eq!(calendar.add_business(friday, 2 * HOUR), Some(monday));
        assert_eq!(calendar.business_between(friday, monday), 2 * HOUR);
        // Friday 2026-10-30 16:00 EDT; Monday 2026-11-02 10:00 EST.
        let (friday, monday) = (at("2026-10-30T20:00:00Z"), at("2026-11-02T15:00:00Z"));
        assert_eq!(calendar.add_business(friday, 2 * HOUR), Some(monday));
        assert_eq!(calendar.business_between(friday, monday), 2 * HOUR);
        // A whole week around either change still has 40 hours.
        for (from, to) in [
            ("2026-03-07T00:00:00Z", "2026-03-14T00:00:00Z"),
            ("2026-10-31T00:00:00Z", "2026-11-07T00:00:00Z"),
        ] {
            assert_eq!(calendar.business_between(at(from), at(to)), 40 * HOUR);
        }
    }

    #[test]
    fn periods_that_a_jump_skips_or_repeats_never_count_twice_or_negative() {
        // New York, 2026-03-08: 02:00-03:00 does not exist. A period starting at 02:30
        // starts at 03:30 (compatible: the offset before the gap); 01:30-02:30 runs
        // from 01:30 EST to 03:30 EDT, one real hour.
        let new_york = |periods: &[&str]| {
            calendar(CalendarConfig {
                time_zone: Some("America/New_York".into()),
                sunday: periods.iter().map(|p| (*p).to_owned()).collect(),
                ..Default::default()
            })
        };
        let (before, after) = (at("2026-03-08T00:00:00Z"), at("2026-03-09T12:00:00Z"));
        assert_eq!(
            new_york(&["02:30-04:00"]).business_between(before, after),
            30 * MINUTE
        );
        assert_eq!(
            new_york(&["01:30-02:30"]).business_between(before, after),
            HOUR
        );
        // A period that ends before its skipped start comes out empty, not negative;
        // one that the gap makes overlap the next is cut, not counted twice.
        assert_eq!(
            new_york(&["02:30-03:15"]).business_between(before, after),
            0
        );
        assert_eq!(
            new_york(&["00:00-02:45", "03:00-04:00"]).business_between(before, after),
            3 * HOUR
        );
        // 2026-11-01: 01:00-02:00 happens twice; a period starting then starts the
        // first time (EDT), so 01:30-02:00 lasts an hour and a half.
        let (before, after) = (at("2026-11-01T00:00:00Z"), at("2026-11-02T12:00:00Z"));
        assert_eq!(
            new_york(&["01:30-02:00"]).business_between(before, after),
            90 * MINUTE
        );
        let calendar = new_york(&["01:30-02:00"]);
        assert_eq!(
            calendar.add_business(before, 0),
            Some(at("2026-11-01T05:30:00Z"))
        );
        assert_eq!(
            calendar.add_business(before, 90 * MINUTE),
            Some(at("2026-11-01T07:00:00Z"))
        );
    }

    #[test]
    fn an_always_open_calendar_is_wall_clock_time() {
        // A holiday long past keeps the day-by-day arithmetic in use.
        let london = calendar(CalendarConfig {
            time_zone: Some("Europe/London".into()),
            always: true,
            holidays: vec!["2001-01-01".into()],
            ..Default::default()
        });
        for calendar in [&london, &Calendar::always()] {
            for (from, to) in [
                ("2026-03-28T10:00:00Z", "2026-03-30T10:00:00Z"),
                ("2026-10-24T22:59:59.999Z", "2026-10-25T01:00:00.001Z"),
                ("2026-01-01T00:00:00Z", "2026-12-31T00:00:00Z"),
            ] {
                let (from, to) = (at(from), at(to));
                assert_eq!(calendar.business_between(from, to), to.0 - from.0);
                assert_eq!(calendar.add_business(from, to.0 - from.0), Some(to));
            }
        }
    }

    #[test]
    fn a_sparse_calendar_answers_by_the_day() {
        // Open two hours a week: 24 business hours take twelve Wednesdays.
        let calendar = calendar(CalendarConfig {
            time_zone: Some("Asia/Kuala_Lumpur".into()),
            wednesday: vec!["10:00-12:00".into()],
            ..Default::default()
        });
        let monday = at("2026-01-05T00:00:00Z");
        let deadline = at("2026-03-25T04:00:00Z");
        assert_eq!(calendar.add_business(monday, 24 * HOUR), Some(deadline));
        assert_eq!(calendar.business_between(monday, deadline), 24 * HOUR);
    }

    #[test]
    fn a_calendar_closed_for_more_than_400_days_has_no_deadline() {
        let mut holidays = Vec::new();
        let mut monday: Date = "2026-01-05".parse().unwrap();
        while monday.year() < 2028 {
            holidays.push(monday.to_string());
            monday = monday.checked_add(jiff::Span::new().days(7)).unwrap();
        }
        let calendar = calendar(CalendarConfig {
            monday: vec!["09:00-17:00".into()],
            holidays,
            ..Default::default()
        });
        let start = at("2026-01-01T00:00:00Z");
        assert_eq!(calendar.add_business(start, 0), None);
        assert_eq!(calendar.next_open(start), None);
        assert_eq!(calendar.add_business(start, HOUR), None);
        assert_eq!(
            calendar.business_between(start, at("2028-01-03T00:00:00Z")),
            0
        );
    }

    fn calendars() -> Vec<Calendar> {
        let mut london = weekdays("Europe/London", "09:00-17:00");
        london.sunday = vec!["00:00-24:00".into()];
        london.holidays = vec!["2026-12-25".into(), "2026-04-03".into()];
        let mut new_york = weekdays("America/New_York", "09:00-12:00");
        new_york.friday = vec![
            "00:00-01:45".into(),
            "02:00-03:00".into(),
            "23:00-24:00".into(),
        ];
        new_york.sunday = vec!["01:30-02:30".into(), "02:45-04:00".into()];
        vec![
            kuala_lumpur(),
            calendar(london),
            calendar(new_york),
            calendar(CalendarConfig {
                time_zone: Some("Asia/Kuala_Lumpur".into()),
                wednesday: vec!["10:00-12:00".into()],
                ..Default::default()
            }),
            Calendar::always(),
        ]
    }

    /// 2025-06-01 to 2027-06-01, across two years of daylight-saving changes.
    const SPAN: std::ops::Range<i64> = 1_748_736_000_000..1_811_808_000_000;

    proptest::proptest! {
        #[test]
        fn adding_then_measuring_gives_the_duration_back(
            which in 0usize..5,
            start in SPAN,
            duration in 0i64..40 * 24 * HOUR,
        ) {
            let calendar = &calendars()[which];
            // The sparse calendar's 400 days hold some 114 business hours.
            let duration = if which == 3 { duration % (100 * HOUR) } else { duration };
            let start = Timestamp(start);
            let end = calendar.add_business(start, duration).unwrap();
            proptest::prop_assert!(end >= start);
            proptest::prop_assert_eq!(calendar.business_between(start, end), duration);
            if duration == 0 {
                proptest::prop_assert_eq!(calendar.next_open(start), Some(end));
            }
        }

        #[test]
        fn business_time_adds_up(which in 0usize..5, a in SPAN, b in SPAN, c in SPAN) {
            let calendar = &calendars()[which];
            let mut points = [a, b, c];
            points.sort_unstable();
            let [a, b, c] = points.map(Timestamp);
            proptest::prop_assert_eq!(
                calendar.business_between(a, b) + calendar.business_between(b, c),
                calendar.business_between(a, c)
            );
        }

        #[test]
        fn open_means_a_millisecond_of_business_time(which in 0usize..5, at in SPAN) {
            let calendar = &calendars()[which];
            let at = Timestamp(at);
            proptest::prop_assert_eq!(
                calendar.is_open(at),
                calendar.business_between(at, Timestamp(at.0 + 1)) == 1
            );
        }
    }
}
