//! Readable forms of messages for timelines and diagrams. Each protocol says what its
//! own messages are ([`protocols::Describe`]: `RequestVote term 2, last entry 9@1`,
//! `NOTIFICATION vote 3 (zxid 0x100000009, epoch 1) round 2 LOOKING`,
//! `Accept 2.1: era 2 = node 1; slots 10..=12`); this module adds what the state
//! machine says about the client commands they carry (`put k1=v1`).

use kv::KvCommand;
use protocols::preload::Preload;
use protocols::{Command, Describe};

pub use protocols::Vocabulary;

/// A protocol that scenarios can run and narrate: it can start from a scenario's
/// history ([`Preload`]) and describe its messages ([`Describe`], implemented by each
/// protocol beside its messages).
pub trait Scripted: Preload + Describe {
    /// A one-line form of `msg`, with client commands as key-value operations.
    fn text(msg: &Self::Message) -> String {
        Self::describe(msg, &command)
    }
}

impl<P: Preload + Describe> Scripted for P {}

/// `put k=v`, `get k`, `set k=v`, `cas k a->b`; a znode command (`create /lock/n-
/// ephemeral-sequential`, `touch`); or the command's text, its bytes that are not
/// printable shown as `\xNN`.
pub fn command(c: &Command) -> String {
    if let Some(op) = KvCommand::decode(&c.data).map(|c| c.op) {
        return sim::kv_text(&op);
    }
    if let Some(z) = znode::command::ZCommand::decode(&c.data) {
        return znode_text(&z.op);
    }
    let text: String = c
        .data
        .utf8_chunks()
        .flat_map(|chunk| {
            let valid = chunk
                .valid()
                .chars()
                .map(|ch| {
                    if ch.is_control() {
                        format!("\\x{:02x}", u32::from(ch))
                    } else {
                        ch.to_string()
                    }
                })
                .collect::<Vec<_>>();
            let invalid = chunk.invalid().iter().map(|b| format!("\\x{b:02x}"));
            valid.into_iter().chain(invalid).collect::<Vec<_>>()
        })
        .collect();
    if text.chars().count() > 24 {
        format!("{}…", text.chars().take(24).collect::<String>())
    } else {
        text
    }
}

/// A znode operation in the words of ZooKeeper's CLI.
fn znode_text(op: &znode::command::ZOp) -> String {
    use znode::command::ZOp;
    match op {
        ZOp::OpenSession { timeout_ms } => format!("open session ({timeout_ms} ms)"),
        ZOp::Touch => "touch session".into(),
        ZOp::CloseSession => "close session".into(),
        ZOp::Expire { sessions } => format!("expire sessions {sessions:?}"),
        ZOp::Create { path, mode, .. } => format!("create {path} ({mode:?})"),
        ZOp::Delete { path, .. } => format!("delete {path}"),
        ZOp::SetData { path, .. } => format!("set {path}"),
        ZOp::GetData { path, .. } => format!("get {path}"),
        ZOp::GetChildren { path, .. } => format!("ls {path}"),
        ZOp::Exists { path, .. } => format!("exists {path}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kv::KvOp;

    #[test]
    fn commands_read_as_key_value_operations() {
        let put = Command {
            id: protocols::RequestId { origin: 1, seq: 1 },
            data: KvCommand {
                session: kv::Session::NONE,
                op: KvOp::Put {
                    key: "k1".into(),
                    value: "v1".into(),
                },
            }
            .encode(),
        };
        assert_eq!(command(&put), "put k1=v1");
        let raw = Command {
            id: protocols::RequestId { origin: 1, seq: 2 },
            data: "not a key-value command at all".into(),
        };
        assert_eq!(command(&raw), "not a key-value command …");
    }
}
