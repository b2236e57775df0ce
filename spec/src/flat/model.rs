//! [`FlatModel`]: stateright's actor-system rules (what may happen next and
//! what each step does to the network and timers), restated over
//! [`FlatState`]. Each rule cites the `ActorModel` behaviour it mirrors; the
//! servers' own rules are the `RaftServer` handlers, called as they are.

use std::borrow::Cow;

use stateright::actor::{
    is_no_op, is_no_op_with_timer, Actor, ActorModelAction, Command, Envelope, Id, Out,
};
use stateright::{Model, Property};

use super::{timer_bit, timers_in, FlatState, Packet};
use crate::cluster::Cluster;
use crate::config::{Config, ConfigError};
use crate::model::Action;
use crate::properties;
use crate::server::RaftServer;
use crate::types::ServerId;

/// Raft under the bounds of a [`Config`], over flat states. Same actions,
/// same states (up to representation) as [`RaftModel`](crate::RaftModel).
#[derive(Clone)]
pub struct FlatModel {
    pub cfg: Config,
    server: RaftServer,
}

impl FlatModel {
    pub fn new(cfg: Config) -> Result<Self, ConfigError> {
        cfg.validate()?;
        Ok(FlatModel {
            server: RaftServer { cfg: cfg.clone() },
            cfg,
        })
    }

    fn lossy(&self) -> bool {
        self.cfg.network.is_lossy()
    }

    /// Applies what a handler asked for, in order (`ActorModel::process_commands`).
    fn process_commands(&self, i: usize, out: Out<RaftServer>, s: &mut FlatState) {
        let src = ServerId(i as u8);
        let duplicating = s.is_duplicating();
        for c in out {
            match c {
                Command::Send(dst, msg) => s.network.send(
                    Packet {
                        src,
                        dst: dst.into(),
                        msg,
                    },
                    duplicating,
                ),
                Command::SetTimer(t, _) => *s.timers_mut(i) |= timer_bit(&t),
                Command::CancelTimer(t) => *s.timers_mut(i) &= !timer_bit(&t),
                Command::Save(d) => s.set_storage(i, d),
                // Raft servers make no random choices.
                Command::ChooseRandom(..) => {}
            }
        }
    }

    /// [`Model::next_state`], written into `next` (whatever it held before)
    /// rather than returned: a search reuses one slot per successor, and
    /// moving a ~700-byte state out of a function and into a buffer costs
    /// copies that show. False if the action is not enabled (`next` then
    /// holds nothing of use).
    pub fn next_state_into(&self, last: &FlatState, action: Action, next: &mut FlatState) -> bool {
        match self.step(last, action, next) {
            Stepped::Disabled => false,
            Stepped::NoServerChanged => true,
            Stepped::Server(i) => {
                let mut ghost = next.ghost;
                ghost.observe_one(i, last, next);
                next.ghost = ghost;
                true
            }
        }
    }

    /// The step itself, before the ghost history sees it.
    fn step(&self, last: &FlatState, action: Action, next: &mut FlatState) -> Stepped {
        match action {
            ActorModelAction::Drop(Envelope { src, dst, msg }) => {
                *next = *last;
                next.network.remove_one(&Packet {
                    src: src.into(),
                    dst: dst.into(),
                    msg,
                });
                Stepped::NoServerChanged
            }
            ActorModelAction::Deliver { src, dst, msg } => {
                let i = usize::from(dst);
                if i >= last.server_count() || last.is_crashed(i) {
                    return Stepped::Disabled;
                }
                let packet = Packet {
                    src: src.into(),
                    dst: dst.into(),
                    msg,
                };
                let mut state = Cow::Borrowed(last.server(i));
                let mut out = Out::new();
                self.server.on_msg(dst, &mut state, src, msg, &mut out);
                if is_no_op(&state, &out) {
                    // stateright takes no step; RaftModel still takes the
                    // ignored message off a network that does not duplicate.
                    if last.is_duplicating() {
                        return Stepped::Disabled;
                    }
                    *next = *last;
                    next.network.remove_one(&packet);
                    return Stepped::NoServerChanged;
                }
                *next = *last;
                if !next.is_duplicating() {
                    next.network.remove_one(&packet);
                }
                if let Cow::Owned(s) = state {
                    *next.server_mut(i) = s;
                }
                self.process_commands(i, out, next);
                Stepped::Server(i)
            }
            ActorModelAction::Timeout(id, timer) => {
                let i = usize::from(id);
                let mut state = Cow::Borrowed(last.server(i));
                let mut out = Out::new();
                self.server.on_timeout(id, &mut state, &timer, &mut out);
                if is_no_op_with_timer(&state, &out, &timer) {
                    return Stepped::Disabled;
                }
                *next = *last;
                *next.timers_mut(i) &= !timer_bit(&timer);
                if let Cow::Owned(s) = state {
                    *next.server_mut(i) = s;
                }
                self.process_commands(i, out, next);
                Stepped::Server(i)
            }
            ActorModelAction::Crash(id) => {
                let i = usize::from(id);
                *next = *last;
                *next.timers_mut(i) = 0;
                next.set_crashed(i, true);
                // A crash stops the server; its state is kept as it was.
                Stepped::NoServerChanged
            }
            ActorModelAction::Recover(id) => {
                let i = usize::from(id);
                let mut out = Out::new();
                let state = self.server.on_start(id, last.storage(i), &mut out);
                *next = *last;
                *next.server_mut(i) = state;
                next.set_crashed(i, false);
                self.process_commands(i, out, next);
                Stepped::Server(i)
            }
            ActorModelAction::SelectRandom { .. } => Stepped::Disabled,
        }
    }
}

/// What a step did, so that the ghost history looks only at the server the
/// step changed.
enum Stepped {
    Disabled,
    /// Only the network, timers or crash flags changed.
    NoServerChanged,
    /// Server `i` may have changed, and no other.
    Server(usize),
}

impl Model for FlatModel {
    type State = FlatState;
    type Action = Action;

    fn init_states(&self) -> Vec<FlatState> {
        let n = self.cfg.servers as usize;
        let mut s = FlatState::empty(n, self.cfg.network.is_duplicating());
        for i in 0..n {
            let mut out = Out::new();
            *s.server_mut(i) = self.server.on_start(Id::from(i), &None, &mut out);
            self.process_commands(i, out, &mut s);
        }
        vec![s]
    }

    /// In `ActorModel`'s order: each message (dropped, then delivered),
    /// timers, crashes within the run's budget, recoveries.
    fn actions(&self, s: &FlatState, actions: &mut Vec<Action>) {
        for (p, _) in s.network.packets() {
            let (src, dst) = (Id::from(p.src), Id::from(p.dst));
            if self.lossy() {
                actions.push(ActorModelAction::Drop(Envelope {
                    src,
                    dst,
                    msg: p.msg,
                }));
            }
            actions.push(ActorModelAction::Deliver {
                src,
                dst,
                msg: p.msg,
            });
        }
        let n = s.server_count();
        for i in 0..n {
            for t in timers_in(s.timers(i)) {
                actions.push(ActorModelAction::Timeout(Id::from(i), t));
            }
        }
        if s.crashes() < self.cfg.max_crashes as usize {
            for i in (0..n).filter(|&i| !s.is_crashed(i)) {
                actions.push(ActorModelAction::Crash(Id::from(i)));
            }
        }
        for i in (0..n).filter(|&i| s.is_crashed(i)) {
            actions.push(ActorModelAction::Recover(Id::from(i)));
        }
    }

    fn next_state(&self, last: &FlatState, action: Action) -> Option<FlatState> {
        let mut next = *last;
        self.next_state_into(last, action, &mut next)
            .then_some(next)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        properties::all(&self.cfg)
    }

    fn within_boundary(&self, s: &FlatState) -> bool {
        s.within_bounds(&self.cfg)
    }
}
