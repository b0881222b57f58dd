//! What staff put on the first lines of an email reply to act on the conversation, in English
//! or French: `#note`, `#close`/`#fermer`, `#reopen`/`#rouvrir`, `#pending`/`#attente`,
//! `#snooze 3d`/`#reporter lundi`, `#assign me`/`#assigner moi`/`#assign claire@…`,
//! `#unassign`/`#désassigner`, `#mute`/`#silence`. A client's reply is never read for them:
//! their `#close` is plain text.
//!
//! The command lines are the reply's first lines that start with `#` and a letter; the first
//! other non-blank line ends them. They are taken off the posted text, understood or not; what
//! was not understood is told back to the agent.

use crate::domain::{EmailAddress, Millis};
use crate::store::{ConversationStatus, NewMessage};
use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc, Weekday};

/// The tag that makes a reply an internal note.
const NOTE_TAG: &str = "#note";

/// Snoozing wakes at this hour (UTC) when only a day is given.
const WAKE_HOUR: u32 = 8;
/// The furthest a snooze may reach.
const MAX_SNOOZE_DAYS: i64 = 366;

/// One understood command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Command {
    Note,
    Status(ConversationStatus),
    Snooze(Millis),
    AssignMe,
    Assign(EmailAddress),
    Unassign,
    Mute,
}

/// The commands of a reply, and the command lines that were not understood (with why).
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Commands {
    pub understood: Vec<Command>,
    pub not_understood: Vec<(String, &'static str)>,
}

impl Commands {
    pub fn is_empty(&self) -> bool {
        self.understood.is_empty() && self.not_understood.is_empty()
    }

    pub fn has(&self, command: &Command) -> bool {
        self.understood.contains(command)
    }
}

/// Takes the command lines off the message's text (and the `#note` tag off its HTML).
pub(super) fn take_commands(message: &mut NewMessage, now: Millis) -> Commands {
    let mut commands = Commands::default();
    let mut rest = message.body_text.as_str();
    loop {
        let trimmed = rest.trim_start_matches(['\r', '\n', ' ', '\t']);
        let (line, after) = trimmed.split_once('\n').unwrap_or((trimmed, ""));
        let line = line.trim();
        let looks_like_one = line
            .strip_prefix('#')
            .is_some_and(|w| w.chars().next().is_some_and(char::is_alphabetic));
        if !looks_like_one {
            break;
        }
        match parse(line, now) {
            Ok(command) => commands.understood.push(command),
            Err(why) => commands.not_understood.push((line.to_string(), why)),
        }
        rest = after;
    }
    if commands.is_empty() {
        return commands;
    }
    message.body_text = rest.trim_start_matches(['\r', '\n']).to_string();
    if commands.has(&Command::Note)
        && let Some(html) = &mut message.body_html
        && let Some(at) = html.to_ascii_lowercase().find(NOTE_TAG)
    {
        html.replace_range(at..at + NOTE_TAG.len(), "");
    }
    // Other command lines would stay in the HTML: the text alone is posted.
    if commands.understood.iter().any(|c| *c != Command::Note)
        || !commands.not_understood.is_empty()
    {
        message.body_html = None;
    }
    commands
}

/// One command line (`#word args`).
fn parse(line: &str, now: Millis) -> Result<Command, &'static str> {
    let line = line.trim_start_matches('#');
    let (word, arg) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let arg = arg.trim();
    let word = fold(word);
    let no_argument = |command: Command| match arg.is_empty() {
        true => Ok(command),
        false => Err("takes no argument"),
    };
    match word.as_str() {
        "note" => no_argument(Command::Note),
        "close" | "fermer" => no_argument(Command::Status(ConversationStatus::Closed)),
        "reopen" | "rouvrir" => no_argument(Command::Status(ConversationStatus::Open)),
        "pending" | "attente" => no_argument(Command::Status(ConversationStatus::Pending)),
        "snooze" | "reporter" => snooze_until(arg, now).map(Command::Snooze),
        "assign" | "assigner" => match fold(arg).as_str() {
            "me" | "moi" => Ok(Command::AssignMe),
            "" => Err("needs whom: me, or an address"),
            _ => EmailAddress::parse(arg)
                .map(Command::Assign)
                .map_err(|_| "needs whom: me, or an address"),
        },
        "unassign" | "desassigner" => no_argument(Command::Unassign),
        "mute" | "silence" => no_argument(Command::Mute),
        _ => Err("is not a command"),
    }
}

/// Lowercased, French accents folded (`#Désassigner` is `desassigner`).
fn fold(word: &str) -> String {
    word.to_lowercase()
        .chars()
        .map(|c| match c {
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'à' | 'â' => 'a',
            'î' | 'ï' => 'i',
            'ô' => 'o',
            'ù' | 'û' | 'ü' => 'u',
            'ç' => 'c',
            other => other,
        })
        .collect()
}

/// When a snooze ends: `2h`, `3d`/`3j`, `2w`, `tomorrow`/`demain`, a weekday (`monday`,
/// `lundi`: the next one), or an ISO date (`2026-12-24`, at 08:00 UTC) or date and time
/// (`2026-12-24T14:30`, UTC). In the future, within a year.
fn snooze_until(arg: &str, now: Millis) -> Result<Millis, &'static str> {
    const BAD: &str = "needs when: 2h, 3d, tomorrow, monday or 2026-12-24";
    let now_at = Utc.timestamp_millis_opt(now).single().ok_or(BAD)?;
    let at_wake = |day: NaiveDate| {
        day.and_time(NaiveTime::from_hms_opt(WAKE_HOUR, 0, 0).unwrap_or_default())
            .and_utc()
            .timestamp_millis()
    };
    let arg = fold(arg);
    let until = if let Some((n, unit)) = split_amount(&arg) {
        let hours = match unit {
            "h" => n,
            "d" | "j" => n * 24,
            "w" => n * 24 * 7,
            _ => return Err(BAD),
        };
        now + hours * 3_600_000
    } else if arg == "tomorrow" || arg == "demain" {
        at_wake(now_at.date_naive() + Duration::days(1))
    } else if let Some(weekday) = weekday(&arg) {
        let today = now_at.date_naive();
        let ahead = (7 + weekday.num_days_from_monday() as i64
            - today.weekday().num_days_from_monday() as i64
            - 1)
            % 7
            + 1;
        at_wake(today + Duration::days(ahead))
    } else if let Ok(day) = NaiveDate::parse_from_str(&arg, "%Y-%m-%d") {
        at_wake(day)
    } else if let Ok(at) = NaiveDateTime::parse_from_str(&arg, "%Y-%m-%dt%H:%M") {
        at.and_utc().timestamp_millis()
    } else {
        return Err(BAD);
    };
    if until <= now {
        return Err("must be in the future");
    }
    if until > now + MAX_SNOOZE_DAYS * 24 * 3_600_000 {
        return Err("is more than a year away");
    }
    Ok(until)
}

/// `3d` → (3, "d").
fn split_amount(arg: &str) -> Option<(i64, &str)> {
    let digits = arg.find(|c: char| !c.is_ascii_digit())?;
    let unit = arg[digits..].trim();
    if !unit.chars().all(char::is_alphabetic) {
        return None;
    }
    let n: i64 = arg[..digits].parse().ok()?;
    (n > 0 && n <= 24 * 366).then_some((n, unit))
}

fn weekday(word: &str) -> Option<Weekday> {
    Some(match word {
        "monday" | "lundi" => Weekday::Mon,
        "tuesday" | "mardi" => Weekday::Tue,
        "wednesday" | "mercredi" => Weekday::Wed,
        "thursday" | "jeudi" => Weekday::Thu,
        "friday" | "vendredi" => Weekday::Fri,
        "saturday" | "samedi" => Weekday::Sat,
        "sunday" | "dimanche" => Weekday::Sun,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{MessageKind, Source};

    /// 2026-12-02 (a Wednesday) 15:00 UTC.
    const NOW: Millis = 1_796_223_600_000;

    fn message(text: &str, html: Option<&str>) -> NewMessage {
        let mut m = NewMessage::typed(
            "cnv_a",
            "per_b",
            MessageKind::Message,
            text.into(),
            Source::Email,
        );
        m.body_html = html.map(str::to_string);
        m
    }

    fn at(date: &str) -> Millis {
        NaiveDateTime::parse_from_str(date, "%Y-%m-%d %H:%M")
            .unwrap()
            .and_utc()
            .timestamp_millis()
    }

    #[test]
    fn the_clock_in_these_tests_is_a_wednesday_afternoon() {
        assert_eq!(NOW, at("2026-12-02 15:00"));
    }

    #[test]
    fn leading_command_lines_are_taken_off_the_text_in_both_languages() {
        let mut m = message(
            "#note\n#Fermer\n\n#assigner moi\nThanks, done.\n#close stays text",
            Some("<p>#note</p>"),
        );
        let c = take_commands(&mut m, NOW);
        assert_eq!(
            c.understood,
            vec![
                Command::Note,
                Command::Status(ConversationStatus::Closed),
                Command::AssignMe
            ]
        );
        assert!(c.not_understood.is_empty());
        assert_eq!(m.body_text, "Thanks, done.\n#close stays text");
        assert_eq!(m.body_html, None, "the HTML still had the other lines");

        let mut m = message(
            "#note\nKeep it between us.",
            Some("<div>#NOTE</div><div>Keep</div>"),
        );
        let c = take_commands(&mut m, NOW);
        assert_eq!(c.understood, vec![Command::Note]);
        assert_eq!(m.body_html.as_deref(), Some("<div></div><div>Keep</div>"));
    }

    #[test]
    fn every_command_and_its_french_twin() {
        let cases = [
            ("#close", Command::Status(ConversationStatus::Closed)),
            ("#fermer", Command::Status(ConversationStatus::Closed)),
            ("#reopen", Command::Status(ConversationStatus::Open)),
            ("#rouvrir", Command::Status(ConversationStatus::Open)),
            ("#pending", Command::Status(ConversationStatus::Pending)),
            ("#attente", Command::Status(ConversationStatus::Pending)),
            ("#snooze 2h", Command::Snooze(NOW + 2 * 3_600_000)),
            ("#reporter 3j", Command::Snooze(NOW + 72 * 3_600_000)),
            ("#snooze 1w", Command::Snooze(NOW + 7 * 24 * 3_600_000)),
            ("#snooze tomorrow", Command::Snooze(at("2026-12-03 08:00"))),
            ("#reporter demain", Command::Snooze(at("2026-12-03 08:00"))),
            ("#snooze monday", Command::Snooze(at("2026-12-07 08:00"))),
            (
                "#reporter mercredi",
                Command::Snooze(at("2026-12-09 08:00")),
            ),
            (
                "#snooze 2026-12-24",
                Command::Snooze(at("2026-12-24 08:00")),
            ),
            (
                "#snooze 2026-12-24T14:30",
                Command::Snooze(at("2026-12-24 14:30")),
            ),
            ("#assign me", Command::AssignMe),
            ("#assigner moi", Command::AssignMe),
            (
                "#assign Claire@Team.test",
                Command::Assign(EmailAddress::parse("Claire@Team.test").unwrap()),
            ),
            ("#unassign", Command::Unassign),
            ("#désassigner", Command::Unassign),
            ("#mute", Command::Mute),
            ("#silence", Command::Mute),
        ];
        for (line, expected) in cases {
            assert_eq!(parse(line, NOW), Ok(expected), "{line}");
        }
    }

    #[test]
    fn what_is_not_understood_is_said_and_taken_off_too() {
        let mut m = message(
            "#clsoe\n#snooze yesterday-ish\n#snooze 2020-01-01\nHello",
            None,
        );
        let c = take_commands(&mut m, NOW);
        assert!(c.understood.is_empty());
        let lines: Vec<&str> = c.not_understood.iter().map(|(l, _)| l.as_str()).collect();
        assert_eq!(
            lines,
            ["#clsoe", "#snooze yesterday-ish", "#snooze 2020-01-01"]
        );
        assert_eq!(c.not_understood[2].1, "must be in the future");
        assert_eq!(m.body_text, "Hello");
        for bad in [
            "#close now",
            "#assign",
            "#assign nobody",
            "#snooze 2y",
            "#snooze 2027-12-31",
        ] {
            assert!(parse(bad, NOW).is_err(), "{bad}");
        }
    }

    #[test]
    fn hashtags_that_are_not_command_lines_stay_text() {
        for text in ["Hello\n#close", "#1 priority", "# heading", "see #note", ""] {
            let mut m = message(text, None);
            assert!(take_commands(&mut m, NOW).is_empty(), "{text:?}");
            assert_eq!(m.body_text, text);
        }
    }
}
