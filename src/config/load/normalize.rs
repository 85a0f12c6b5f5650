//! Every version's `definition` brought into one shape before anything is compiled. v1/v2 modes take the v3/v4
//! shape (a v1/v2 webhook is a v3 webhook whose URL the document already decoded and that has no custom headers), so
//! each mode kind has one compile function whatever the version.

use serde_json::Value;
use url::Url;

use super::error::LoadError;
use super::parse::typed;
use crate::config::compiled::{HookMethod, Version};
use crate::config::model::{
    AlternativeMode, AuthHookMethodV1, AuthHookMethodV3, AuthModeConfig, AuthModeConfigV3,
    DefinitionV1, DefinitionV2, DefinitionV3, DefinitionV4, EnvironmentValue, JwtConfig,
    NoAuthConfig, PostCustomHeadersConfig,
};

/// A decoded `definition`, any version.
pub(super) struct Definition {
    pub(super) version: Version,
    /// v1 only.
    pub(super) role_emulation_by: Option<String>,
    pub(super) mode: ModeSpec,
    /// v4 only.
    pub(super) alternative_modes: Option<Vec<AlternativeMode>>,
}

/// One mode, any version.
pub(super) enum ModeSpec {
    Webhook(HookSpec),
    Jwt(Box<JwtConfig>),
    NoAuth(NoAuthConfig),
}

/// A webhook, any version.
pub(super) struct HookSpec {
    pub(super) method: HookMethod,
    pub(super) url: HookUrl,
    /// Always `None` for v1/v2.
    pub(super) custom: Option<PostCustomHeadersConfig>,
}

/// v1/v2 decode the URL with the document (a URL that does not parse is a decoding error there); v3/v4 write a
/// literal or the name of an environment variable, parsed when the mode compiles.
pub(super) enum HookUrl {
    Decoded(Url),
    Written(EnvironmentValue),
}

impl From<AuthModeConfig> for ModeSpec {
    fn from(m: AuthModeConfig) -> Self {
        match m {
            AuthModeConfig::Webhook(h) => ModeSpec::Webhook(HookSpec {
                method: match h.method {
                    AuthHookMethodV1::Get => HookMethod::Get,
                    AuthHookMethodV1::Post => HookMethod::Post,
                },
                url: HookUrl::Decoded(h.url),
                custom: None,
            }),
            AuthModeConfig::Jwt(j) => ModeSpec::Jwt(j),
            AuthModeConfig::NoAuth(n) => ModeSpec::NoAuth(n),
        }
    }
}

impl From<AuthModeConfigV3> for ModeSpec {
    fn from(m: AuthModeConfigV3) -> Self {
        match m {
            AuthModeConfigV3::Webhook(h) => ModeSpec::Webhook(HookSpec {
                method: match h.method {
                    AuthHookMethodV3::Get => HookMethod::Get,
                    AuthHookMethodV3::Post => HookMethod::Post,
                },
                url: HookUrl::Written(h.url),
                custom: h.custom_headers_config,
            }),
            AuthModeConfigV3::Jwt(j) => ModeSpec::Jwt(j),
            AuthModeConfigV3::NoAuth(n) => ModeSpec::NoAuth(n),
        }
    }
}

/// Decode `definition` as `version` declares it; a deprecated version adds its warning to `warnings`.
pub(super) fn definition(
    version: &str,
    definition: Value,
    warnings: &mut Vec<String>,
) -> Result<Definition, LoadError> {
    const P: &str = "definition";
    let (version, role_emulation_by, mode, alternative_modes) = match version {
        "v1" => {
            let d: DefinitionV1 = typed(definition, P)?;
            warnings.push(deprecation("v1", "PleaseUpgradeV1ToV4"));
            (Version::V1, d.allow_role_emulation_by, d.mode.into(), None)
        }
        "v2" => {
            let d: DefinitionV2 = typed(definition, P)?;
            warnings.push(deprecation("v2", "PleaseUpgradeV2ToV4"));
            (Version::V2, None, d.mode.into(), None)
        }
        "v3" => {
            let d: DefinitionV3 = typed(definition, P)?;
            (Version::V3, None, d.mode.into(), None)
        }
        "v4" => {
            let d: DefinitionV4 = typed(definition, P)?;
            (Version::V4, None, d.mode.into(), d.alternative_modes)
        }
        other => {
            return Err(LoadError::at(
                "version",
                format!("unknown variant `{other}`, expected one of `v1`, `v2`, `v3`, `v4`"),
            ));
        }
    };
    Ok(Definition {
        version,
        role_emulation_by,
        mode,
        alternative_modes,
    })
}

fn deprecation(v: &str, code: &str) -> String {
    format!("AuthConfig {v} is deprecated; please upgrade to v4 ({code})")
}
