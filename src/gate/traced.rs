//! What the gate adds to the decision span (see `telemetry`): the outcome, the config and the mode. Runs only when
//! tracing is on.

use super::active::ActiveMode;
use super::{Decision, Gate, Target};
use crate::authn::request::AuthRequest;
use crate::telemetry::{self, Outcome};

impl Gate {
    /// Record `d`'s outcome on the decision span. The config is named only when it is one being served: a name
    /// a client sent that matches none is not recorded (as in the metrics).
    pub(super) fn record_span(&self, target: &Target, req: &AuthRequest<'_>, d: &Decision) {
        let (config, mode) = match target {
            Target::Active(Some(active), _) => {
                let mode = self.select_mode(active, req).ok().and_then(|i| {
                    active.modes.get(i).map(|m| match m {
                        ActiveMode::Jwt(_) => "jwt",
                        ActiveMode::NoAuth(_) => "noauth",
                        ActiveMode::Webhook(_) => "webhook",
                    })
                });
                (active.owner.name.as_deref(), mode)
            }
            _ => (None, None),
        };
        telemetry::record_decision(&Outcome {
            status: d.status(),
            reason: d.result.as_ref().err().map(|e| e.reason.code()),
            config,
            cache_hit: d.cache_hit,
            mode,
        });
    }
}
