//! [`FlatModel`]: stateright's actor-system rules (what may happen next and
//! what each step does to the network and timers), restated over
//! [`FlatState`]. Each rule cites the `ActorModel` behaviour it mirrors; the
//! servers' own rules are the `RaftServer` handlers, called as they are.

use std::borrow::Cow;

use stateright::actor::{ActorModelAction, Envelope, Id};
use stateright::{Model, Property};

use super::{timer_bit, timers_in, FlatState, Packet};
use crate::cluster::Cluster;
use crate::config::{Config, ConfigError};
use crate::coverage::{Rule, RuleSet};
use crate::message::Msg;
use crate::model::Action;
use crate::properties;
use crate::server::{Durable, Effects, RaftServer, Timer};
use crate::servers::Servers;
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

    /// [`Model::next_state`], written into `next` (whatever it held before)
    /// rather than returned: a search reuses one slot per successor, and
    /// moving a ~700-byte state out of a function and into a buffer costs
    /// copies that show. False if the action is not enabled (`next` then
    /// holds nothing of use).
    pub fn next_state_into(&self, last: &FlatState, action: Action, next: &mut FlatState) -> bool {
        self.next_state_covered(last, action, next, &mut RuleSet::default())
    }

    /// [`next_state_into`](Self::next_state_into), adding the rules the
    /// step took to `fired` (left as it was for a disabled action).
    pub fn next_state_covered(
        &self,
        last: &FlatState,
        action: Action,
        next: &mut FlatState,
        fired: &mut RuleSet,
    ) -> bool {
        self.next_state_sending(last, action, next, fired, None)
    }

    /// [`next_state_covered`](Self::next_state_covered), also appending
    /// to `sent` every message the acting server sent, in sending order
    /// (what the network alone cannot tell: a duplicating network holds a
    /// message sent again only once). Conformance compares them with the
    /// implementation's.
    pub fn next_state_sending(
        &self,
        last: &FlatState,
        action: Action,
        next: &mut FlatState,
        fired: &mut RuleSet,
        sent: Option<&mut Vec<Packet>>,
    ) -> bool {
        let mut rules = RuleSet::default();
        let stepped = self.step(last, action, next, &mut rules, sent);
        if !matches!(stepped, Stepped::Disabled) {
            fired.0 |= rules.0;
        }
        match stepped {
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

    /// The step itself, before the ghost history sees it. A handler's
    /// effects go straight into `next`, so `next` starts as a copy of
    /// `last` even for a step that turns out to be disabled.
    fn step(
        &self,
        last: &FlatState,
        action: Action,
        next: &mut FlatState,
        rules: &mut RuleSet,
        mut sent: Option<&mut Vec<Packet>>,
    ) -> Stepped {
        match action {
            ActorModelAction::Drop(Envelope { src, dst, msg }) => {
                rules.insert(Rule::DropMessage);
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
                *next = *last;
                if last.is_duplicating() {
                    rules.insert(Rule::DuplicateMessage);
                } else {
                    next.network.remove_one(&Packet {
                        src: src.into(),
                        dst: dst.into(),
                        msg,
                    });
                }
                let mut state = Cow::Borrowed(last.server(i));
                let mut effects = Apply::new(next, i, None, sent.as_deref_mut());
                self.server
                    .receive(dst.into(), &mut state, src.into(), msg, &mut effects);
                rules.0 |= effects.rules.0;
                if matches!(state, Cow::Borrowed(_)) && effects.count == 0 {
                    // `is_no_op`: stateright takes no step; RaftModel still
                    // takes the ignored message off a network that does
                    // not duplicate.
                    return if last.is_duplicating() {
                        Stepped::Disabled
                    } else {
                        Stepped::NoServerChanged
                    };
                }
                if let Cow::Owned(s) = state {
                    *next.server_mut(i) = s;
                }
                Stepped::Server(i)
            }
            ActorModelAction::Timeout(id, timer) => {
                let i = usize::from(id);
                *next = *last;
                *next.timers_mut(i) &= !timer_bit(&timer);
                let mut state = Cow::Borrowed(last.server(i));
                let mut effects = Apply::new(next, i, Some(timer), sent.as_deref_mut());
                self.server.fire(id.into(), &mut state, timer, &mut effects);
                rules.0 |= effects.rules.0;
                // `is_no_op_with_timer`: the state is untouched and the
                // one effect renews the timer that fired.
                if matches!(state, Cow::Borrowed(_)) && effects.count == 1 && effects.renewed {
                    return Stepped::Disabled;
                }
                if let Cow::Owned(s) = state {
                    *next.server_mut(i) = s;
                }
                Stepped::Server(i)
            }
            ActorModelAction::Crash(id) => {
                rules.insert(Rule::Crash);
                let i = usize::from(id);
                *next = *last;
                *next.timers_mut(i) = 0;
                next.set_crashed(i, true);
                // A crash stops the server; its state is kept as it was.
                Stepped::NoServerChanged
            }
            ActorModelAction::Recover(id) => {
                let i = usize::from(id);
                *next = *last;
                next.set_crashed(i, false);
                let mut effects = Apply::new(next, i, None, sent);
                let state = self.server.restart(last.storage(i), &mut effects);
                rules.0 |= effects.rules.0;
                *next.server_mut(i) = state;
                Stepped::Server(i)
            }
            ActorModelAction::SelectRandom { .. } => Stepped::Disabled,
        }
    }
}

/// A handler's effects, applied to the next state as the handler makes
/// them (what `ActorModel::process_commands` does with the command list,
/// without the list).
struct Apply<'a> {
    next: &'a mut FlatState,
    server: usize,
    /// Effects made so far.
    count: usize,
    /// The timer whose firing is being handled, if any...
    fired: Option<Timer>,
    /// ...and whether the handler set it again.
    renewed: bool,
    /// The rules the handler took.
    rules: RuleSet,
    /// Where to record the messages sent, if anyone asked.
    sent: Option<&'a mut Vec<Packet>>,
}

impl<'a> Apply<'a> {
    fn new(
        next: &'a mut FlatState,
        server: usize,
        fired: Option<Timer>,
        sent: Option<&'a mut Vec<Packet>>,
    ) -> Self {
        Apply {
            next,
            server,
            count: 0,
            fired,
            renewed: false,
            rules: RuleSet::default(),
            sent,
        }
    }
}

impl Effects for Apply<'_> {
    fn send(&mut self, to: ServerId, msg: Msg) {
        self.count += 1;
        let duplicating = self.next.is_duplicating();
        let packet = Packet {
            src: ServerId(self.server as u8),
            dst: to,
            msg,
        };
        self.next.network.send(packet, duplicating);
        if let Some(sent) = self.sent.as_deref_mut() {
            sent.push(packet);
        }
    }

    fn save(&mut self, durable: Durable) {
        self.count += 1;
        self.next.set_storage(self.server, durable);
    }

    fn set_timer(&mut self, timer: Timer) {
        self.count += 1;
        self.renewed |= self.fired == Some(timer);
        *self.next.timers_mut(self.server) |= timer_bit(&timer);
    }

    fn cancel_timer(&mut self, timer: Timer) {
        self.count += 1;
        *self.next.timers_mut(self.server) &= !timer_bit(&timer);
    }

    fn cover(&mut self, rule: Rule) {
        self.rules.insert(rule);
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
            let server = self
                .server
                .restart(&None, &mut Apply::new(&mut s, i, None, None));
            *s.server_mut(i) = server;
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
