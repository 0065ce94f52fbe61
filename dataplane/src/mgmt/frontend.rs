//! `disable frontend`, `enable frontend`, `shutdown frontend`: stop accepting on a
//! frontend's listeners for a while, or for good, with HAProxy 2.6's answers.
//!
//! Owns: [`frontend_admin`]. The state lives in `Shared::fe_state`; the workers'
//! accept loops read it and are woken through the mailbox
//! ([`Message::WakeAcceptLoops`]). A paused frontend leaves new connections in the
//! kernel backlog; a shut down one closes its listeners (connections are then
//! refused) and cannot be enabled again. Sessions already accepted go on.

use super::Cli;
use crate::proxy::shared::FeState;
use crate::proxy::Message;

/// `<verb> frontend <name>` for `verb` in `disable`, `enable`, `shutdown` (the level
/// is checked by the caller).
pub(crate) fn frontend_admin(cli: &Cli, verb: &str, name: Option<&str>) -> String {
    let Some(name) = name else {
        return "A frontend name is expected.\n".into();
    };
    let sh = &cli.shared;
    let Some(fe) = sh.config.frontends.iter().position(|f| f.name == name) else {
        return "No such frontend.\n".into();
    };
    let now = sh.fe_state(fe);
    let (next, refusal) = match (verb, now) {
        ("shutdown", FeState::Stopped) => return "Frontend was already shut down.\n".into(),
        ("shutdown", _) => (FeState::Stopped, None),
        (_, FeState::Stopped) => (
            now,
            Some(format!(
                "Frontend was previously shut down, cannot {verb}.\n"
            )),
        ),
        ("disable", FeState::Paused) => (now, Some("All sockets are already disabled.\n".into())),
        ("disable", _) => (FeState::Paused, None),
        (_, FeState::Open) => (now, Some("All sockets are already enabled.\n".into())),
        _ => (FeState::Open, None),
    };
    if let Some(r) = refusal {
        return r;
    }
    sh.set_fe_state(fe, next);
    for m in &cli.mailboxes {
        let _ = m.send(Message::WakeAcceptLoops);
    }
    String::new()
}
