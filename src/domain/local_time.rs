//! Times as a person reads them: in their time zone (an IANA name such as `Europe/Paris`, from
//! the tz database that `chrono-tz` carries, so no system files are needed) and their language.
//! Every page and email shows times through here; the exact instant goes beside it in machine
//! form (`<time datetime>`, RFC 3339), so nothing is lost by rounding to the minute.

use super::{Locale, Millis};
use chrono::{DateTime, Datelike, NaiveDate, TimeZone as _, Timelike, Utc};
use chrono_tz::Tz;

/// A validated IANA time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimeZone(Tz);

impl Default for TimeZone {
    fn default() -> Self {
        TimeZone(Tz::UTC)
    }
}

impl TimeZone {
    pub const UTC: TimeZone = TimeZone(Tz::UTC);

    /// An IANA name, as the tz database spells it (`Europe/Paris`, `America/New_York`, `UTC`);
    /// case-insensitive, as people type them. None for anything else (`CET+1`, `Paris`, "").
    pub fn parse(name: &str) -> Option<TimeZone> {
        let name = name.trim();
        if name.is_empty() || name.len() > 64 {
            return None;
        }
        name.parse::<Tz>()
            .ok()
            .or_else(|| {
                chrono_tz::TZ_VARIANTS
                    .iter()
                    .copied()
                    .find(|tz| tz.name().eq_ignore_ascii_case(name))
            })
            .map(TimeZone)
    }

    /// The names a person chooses from: `UTC` and every `Area/Location` zone (not the legacy
    /// aliases such as `CET`, `US/Pacific` or `Etc/GMT+1`), sorted.
    pub fn choices() -> Vec<&'static str> {
        const AREAS: [&str; 10] = [
            "Africa/",
            "America/",
            "Antarctica/",
            "Arctic/",
            "Asia/",
            "Atlantic/",
            "Australia/",
            "Europe/",
            "Indian/",
            "Pacific/",
        ];
        let mut names: Vec<&'static str> = chrono_tz::TZ_VARIANTS
            .iter()
            .map(|tz| tz.name())
            .filter(|n| AREAS.iter().any(|a| n.starts_with(a)))
            .chain(["UTC"])
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// Its IANA name.
    pub fn name(self) -> &'static str {
        self.0.name()
    }

    fn at(self, ms: Millis) -> DateTime<Tz> {
        let utc = DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default();
        utc.with_timezone(&self.0)
    }

    /// The calendar day `ms` falls on here.
    pub fn day(self, ms: Millis) -> NaiveDate {
        self.at(ms).date_naive()
    }

    /// The zone's abbreviation at that instant ("CET", "CEST", "UTC").
    pub fn abbreviation(self, ms: Millis) -> String {
        self.at(ms).format("%Z").to_string()
    }

    /// "14:05".
    pub fn clock(self, ms: Millis) -> String {
        let t = self.at(ms);
        format!("{:02}:{:02}", t.hour(), t.minute())
    }

    /// A full date and time with the zone: "Tuesday 3 November 2026, 14:05 CET" /
    /// "mardi 3 novembre 2026, 14:05 CET". For emails and lists, where there is no day heading.
    pub fn date_time(self, ms: Millis, locale: Locale) -> String {
        let day = self.day(ms);
        format!(
            "{}, {} {}",
            long_date(day, locale, true),
            self.clock(ms),
            self.abbreviation(ms)
        )
    }

    /// A short date and time for a list: "14:05" today, else "3 Nov 14:05", or "3 Nov 2025"
    /// in another year than `now`'s.
    pub fn short(self, ms: Millis, now: Millis, locale: Locale) -> String {
        let day = self.day(ms);
        let today = self.day(now);
        if day == today {
            return self.clock(ms);
        }
        let month = MONTHS_SHORT[locale_index(locale)][day.month0() as usize];
        if day.year() == today.year() {
            format!("{} {month} {}", day.day(), self.clock(ms))
        } else {
            format!("{} {month} {}", day.day(), day.year())
        }
    }

    /// The heading of a day in a conversation: "Today", "Yesterday", "Monday 3 November"
    /// (the year only when it is not `now`'s).
    pub fn day_heading(self, day: NaiveDate, now: Millis, locale: Locale) -> String {
        let today = self.day(now);
        let (today_word, yesterday_word) = match locale {
            Locale::En => ("Today", "Yesterday"),
            Locale::Fr => ("Aujourd'hui", "Hier"),
        };
        if day == today {
            return today_word.to_string();
        }
        if today.pred_opt() == Some(day) {
            return yesterday_word.to_string();
        }
        let heading = long_date(day, locale, day.year() != today.year());
        // A heading starts with a capital in both languages ("Lundi 3 novembre").
        let mut chars = heading.chars();
        match chars.next() {
            Some(first) => first.to_uppercase().chain(chars).collect(),
            None => heading,
        }
    }

    /// Midnight (the start of `day`) here, as an instant: when "today" ends for a cache key.
    pub fn start_of(self, day: NaiveDate) -> Millis {
        // A day that starts in a DST gap (no 00:00) starts at its first existing minute.
        (0..=120)
            .step_by(30)
            .find_map(|minutes| {
                let naive = day.and_hms_opt(0, 0, 0)? + chrono::Duration::minutes(minutes);
                self.0.from_local_datetime(&naive).earliest()
            })
            .map_or(0, |t| t.timestamp_millis())
    }
}

fn locale_index(locale: Locale) -> usize {
    match locale {
        Locale::En => 0,
        Locale::Fr => 1,
    }
}

const WEEKDAYS: [[&str; 7]; 2] = [
    [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ],
    [
        "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche",
    ],
];

const MONTHS: [[&str; 12]; 2] = [
    [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
    [
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ],
];

const MONTHS_SHORT: [[&str; 12]; 2] = [
    [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ],
    [
        "janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.",
        "déc.",
    ],
];

/// "Tuesday 3 November 2026" / "mardi 3 novembre 2026" (both languages put the day first;
/// French writes the first of the month "1er").
fn long_date(day: NaiveDate, locale: Locale, with_year: bool) -> String {
    let i = locale_index(locale);
    let weekday = WEEKDAYS[i][day.weekday().num_days_from_monday() as usize];
    let month = MONTHS[i][day.month0() as usize];
    let number = match (locale, day.day()) {
        (Locale::Fr, 1) => "1er".to_string(),
        (_, n) => n.to_string(),
    };
    match with_year {
        true => format!("{weekday} {number} {month} {}", day.year()),
        false => format!("{weekday} {number} {month}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-11-03 13:05 UTC, a Tuesday: 14:05 in Paris (CET, UTC+1).
    const T: Millis = 1_793_711_100_000;

    #[test]
    fn iana_names_parse_and_nothing_else_does() {
        assert_eq!(
            TimeZone::parse("Europe/Paris").unwrap().name(),
            "Europe/Paris"
        );
        assert_eq!(
            TimeZone::parse("europe/paris").unwrap().name(),
            "Europe/Paris"
        );
        assert_eq!(TimeZone::parse(" UTC ").unwrap(), TimeZone::UTC);
        for bad in [
            "",
            "Paris",
            "CET+1",
            "Europe/Atlantis",
            "../../etc/passwd",
            &"A".repeat(200),
        ] {
            assert!(TimeZone::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn the_choices_are_the_area_zones_and_utc_and_each_parses() {
        let choices = TimeZone::choices();
        assert!(choices.contains(&"Europe/Paris") && choices.contains(&"UTC"));
        assert!(!choices.contains(&"CET") && !choices.contains(&"US/Pacific"));
        assert!(choices.len() > 300, "{}", choices.len());
        assert!(choices.iter().all(|c| TimeZone::parse(c).is_some()));
    }

    #[test]
    fn times_read_in_the_zone_and_the_language() {
        let paris = TimeZone::parse("Europe/Paris").unwrap();
        assert_eq!(TimeZone::UTC.clock(T), "13:05");
        assert_eq!(paris.clock(T), "14:05");
        assert_eq!(
            paris.date_time(T, Locale::En),
            "Tuesday 3 November 2026, 14:05 CET"
        );
        assert_eq!(
            paris.date_time(T, Locale::Fr),
            "mardi 3 novembre 2026, 14:05 CET"
        );
        // Summer time: UTC+2, CEST.
        let july = T - 120 * 86_400_000;
        assert!(paris.date_time(july, Locale::En).ends_with("15:05 CEST"));
    }

    #[test]
    fn day_headings_say_today_yesterday_then_the_date() {
        let paris = TimeZone::parse("Europe/Paris").unwrap();
        let day = paris.day(T);
        assert_eq!(paris.day_heading(day, T, Locale::En), "Today");
        assert_eq!(paris.day_heading(day, T + 86_400_000, Locale::Fr), "Hier");
        assert_eq!(
            paris.day_heading(day, T + 3 * 86_400_000, Locale::Fr),
            "Mardi 3 novembre"
        );
        assert_eq!(
            paris.day_heading(day, T + 400 * 86_400_000, Locale::En),
            "Tuesday 3 November 2026"
        );
        // 23:30 UTC on the 3rd is already the 4th in Paris.
        let late = T + (10 * 60 + 25) * 60_000;
        assert_eq!(TimeZone::UTC.day(late).day(), 3);
        assert_eq!(paris.day(late).day(), 4);
    }

    #[test]
    fn a_day_starts_at_its_local_midnight() {
        let paris = TimeZone::parse("Europe/Paris").unwrap();
        let day = paris.day(T);
        let start = paris.start_of(day);
        assert_eq!(paris.clock(start), "00:00");
        assert_eq!(paris.day(start), day);
        assert_eq!(paris.day(start - 1), day.pred_opt().unwrap());
    }

    #[test]
    fn short_times_drop_what_the_reader_knows() {
        assert_eq!(TimeZone::UTC.short(T, T, Locale::En), "13:05");
        assert_eq!(
            TimeZone::UTC.short(T, T + 86_400_000, Locale::Fr),
            "3 nov. 13:05"
        );
        assert_eq!(
            TimeZone::UTC.short(T, T + 400 * 86_400_000, Locale::En),
            "3 Nov 2026"
        );
    }
}
