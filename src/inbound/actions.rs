//! What a staff member's reply does besides posting: `#note` (or answering an email of notes)
//! makes it a note; the other commands become effects written in the reply's own transaction,
//! with them as the actor; command lines not understood are told back to them in one short
//! email (one an hour at most, never to a client: clients' replies are not read for commands).

use super::Inbound;
use super::commands::{Command, take_commands};
use super::disposition::{Flow, try_again};
use super::mail::Mail;
use super::route::Route;
use crate::domain::envelope::ReplyKind;
use crate::domain::{MessageKind, Role};
use crate::outbound::compose::COMMANDS_ID_PREFIX;
use crate::store::{
    ConversationStatus, InboundEffect, LifecycleChange, NewMessage, StatusChange, TokenOwner,
};

/// Answers to commands not understood: at most one per person in this window.
const COMMANDS_HELP_INTERVAL_MS: i64 = 3600 * 1000;

/// What a staff reply's commands came to.
#[derive(Default)]
pub(super) struct Staff {
    pub effects: Vec<InboundEffect>,
    /// The commands applied, as written, for the inbound record.
    pub applied: Vec<String>,
}

impl Inbound {
    /// Reads the commands off `message` (a staff member's reply) and makes them effects.
    pub(super) async fn staff_commands(
        &self,
        mail: &Mail<'_>,
        route: &Route,
        message: Option<&mut NewMessage>,
    ) -> Flow<Staff> {
        let owner = &route.owner;
        let mut staff = Staff::default();
        let Some(message) = message else {
            return Ok(staff);
        };
        let mut commands = take_commands(message, self.store.now());
        if route.kind == ReplyKind::Note || commands.has(&Command::Note) {
            message.kind = MessageKind::Note;
        }
        let mut change = LifecycleChange {
            actor_id: Some(owner.person.id.clone()),
            ..LifecycleChange::default()
        };
        for command in std::mem::take(&mut commands.understood) {
            match self
                .command_effect(&command, owner, &mut change, &mut staff.effects)
                .await?
            {
                Ok(Some(written)) => staff.applied.push(written),
                Ok(None) => {}
                Err(line) => commands.not_understood.push(line),
            }
        }
        if change.status.is_some() || change.assignee.is_some() {
            staff.effects.push(InboundEffect::Lifecycle {
                conversation_id: owner.conversation_id.clone(),
                change,
            });
        }
        if !commands.not_understood.is_empty()
            && let Some(help) = self
                .commands_help(mail, route, &commands.not_understood)
                .await?
        {
            staff.effects.push(help);
        }
        Ok(staff)
    }

    /// What one command changes (into `change`, or an effect of its own). Gives the command as
    /// the record shows it, or the line when it cannot apply (an assignee not on the team).
    async fn command_effect(
        &self,
        command: &Command,
        owner: &TokenOwner,
        change: &mut LifecycleChange,
        effects: &mut Vec<InboundEffect>,
    ) -> Flow<Result<Option<String>, (String, &'static str)>> {
        let written = match command {
            Command::Note => return Ok(Ok(None)),
            Command::Status(status) => {
                change.status = Some(StatusChange::To(*status));
                match status {
                    ConversationStatus::Closed => "#close",
                    ConversationStatus::Pending => "#pending",
                    _ => "#reopen",
                }
                .to_string()
            }
            Command::Snooze(until) => {
                change.status = Some(StatusChange::SnoozeUntil(*until));
                "#snooze".to_string()
            }
            Command::AssignMe => {
                change.assignee = Some(Some(owner.person.id.clone()));
                "#assign me".to_string()
            }
            Command::Assign(address) => {
                let person = self
                    .store
                    .person_by_email(address)
                    .await
                    .map_err(try_again("assignee lookup"))?;
                let Some(person) = person.filter(|p| p.role == Role::Internal) else {
                    return Ok(Err((format!("#assign {address}"), "is not on the team")));
                };
                change.assignee = Some(Some(person.id));
                format!("#assign {}", address.key())
            }
            Command::Unassign => {
                change.assignee = Some(None);
                "#unassign".to_string()
            }
            Command::Mute => {
                effects.push(InboundEffect::Mute {
                    conversation_id: owner.conversation_id.clone(),
                    person_id: owner.person.id.clone(),
                });
                "#mute".to_string()
            }
        };
        Ok(Ok(Some(written)))
    }

    /// The short email telling an agent which lines were not understood, unless one went out
    /// within the hour (a misbehaving script must not get an email per reply).
    async fn commands_help(
        &self,
        mail: &Mail<'_>,
        route: &Route,
        lines: &[(String, &'static str)],
    ) -> Flow<Option<InboundEffect>> {
        let Some(mailer) = &self.mailer else {
            return Ok(None);
        };
        let person = &route.owner.person;
        let since = self.store.now() - COMMANDS_HELP_INTERVAL_MS;
        let recent = self
            .store
            .queued_since(&person.email, COMMANDS_ID_PREFIX, since)
            .await
            .map_err(try_again("commands help lookup"))?;
        if recent > 0 {
            return Ok(None);
        }
        let settings = self
            .store
            .person_settings(&person.id)
            .await
            .map_err(try_again("person settings lookup"))?;
        let Some(settings) = settings else {
            return Ok(None);
        };
        // The conversation's own subject: the reply's may be anything ("Re: Re: …").
        let conversation = self
            .store
            .conversation(&route.owner.conversation_id)
            .await
            .map_err(try_again("conversation lookup"))?;
        let subject = match &conversation {
            Some(c) => c.subject.as_str(),
            None => mail.parsed.subject.as_deref().unwrap_or(""),
        };
        let email = mailer.compose().commands_not_understood(
            route.owner.domain.as_deref(),
            &person.name,
            &person.email,
            settings.locale,
            subject,
            lines,
            self.store.now(),
        );
        match email {
            Ok(email) => Ok(Some(InboundEffect::Queue(email))),
            Err(err) => {
                tracing::error!(error = %err, "composing a commands answer failed");
                Ok(None)
            }
        }
    }
}
