//! Model control is never open by accident: with control on (`explicit` or `poll`) and no
//! control token, every listener that serves the control endpoints (HTTP always, gRPC when on)
//! must take connections from this host only, or ask each client for a certificate (mutual
//! TLS); otherwise the start is refused unless `model_control.allow_unauthenticated_control`
//! says the operator wants exactly that.

use super::{ConfigError, ControlMode, ServerConfig, CONTROL_TOKEN_ENV};

impl ServerConfig {
    /// Refuses a configuration that would let anyone who reaches a port load and unload models.
    /// `token_configured`: whether a control token was found (variable or file).
    pub fn check_control_exposure(&self, token_configured: bool) -> Result<(), ConfigError> {
        let control = &self.model_control;
        if control.mode == ControlMode::None
            || token_configured
            || control.allow_unauthenticated_control
        {
            return Ok(());
        }
        let open = self.listeners_open_to_anonymous_hosts();
        if open.is_empty() {
            return Ok(());
        }
        Err(ConfigError::Invalid(format!(
            "model control is '{mode}' without a control token, and {open} other hosts: anyone \
             who reaches it could load and unload models. Make a token and give it to the server \
             (`head -c 32 /dev/urandom | base64 > control-token`, then `--control-token-file \
             control-token` or {CONTROL_TOKEN_ENV}), or bind to loopback only (`--http-host \
             127.0.0.1 --grpc-host 127.0.0.1`), or, to run open on purpose, pass \
             `--allow-unauthenticated-control true`",
            mode = control.mode,
            open = open.join(" and "),
        )))
    }

    /// The listeners serving the control endpoints that a client on another host may use
    /// without a certificate, described for the error.
    fn listeners_open_to_anonymous_hosts(&self) -> Vec<String> {
        let client_certificates = self.tls.enabled() && self.tls.client_ca_file.is_some();
        let closed = |host: std::net::IpAddr, tls_on_listener: bool| {
            host.is_loopback() || (client_certificates && tls_on_listener)
        };
        let mut open = Vec::new();
        if !closed(self.http.host, self.tls.http) {
            open.push(format!(
                "the HTTP listener ({}:{}) takes connections from",
                self.http.host, self.http.port
            ));
        }
        if self.grpc.enabled && !closed(self.grpc.host, self.tls.grpc) {
            open.push(format!(
                "the gRPC listener ({}:{}) takes connections from",
                self.grpc.host, self.grpc.port
            ));
        }
        open
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use outpost_settings::flags::SettingOverrides;

    fn config(pairs: &[(&str, &str)]) -> ServerConfig {
        ServerConfig::load(None, &SettingOverrides::from_pairs(pairs)).unwrap()
    }

    #[test]
    fn control_without_a_token_on_any_address_is_refused_with_the_ways_out() {
        let open = config(&[("model_control.mode", "explicit")]);
        let error = open.check_control_exposure(false).unwrap_err().to_string();
        for needle in [
            "'explicit' without a control token",
            "HTTP listener (0.0.0.0:8000)",
            "gRPC listener (0.0.0.0:8001)",
            "--control-token-file",
            "OUTPOST_CONTROL_TOKEN",
            "--http-host 127.0.0.1",
            "--allow-unauthenticated-control",
        ] {
            assert!(error.contains(needle), "{needle:?} missing from: {error}");
        }
        let poll = config(&[("model_control.mode", "poll")]);
        assert!(poll.check_control_exposure(false).is_err());
    }

    #[test]
    fn a_token_loopback_listeners_or_the_opt_out_allow_the_start() {
        let open = config(&[("model_control.mode", "explicit")]);
        open.check_control_exposure(true).unwrap();
        config(&[]).check_control_exposure(false).unwrap();
        config(&[
            ("model_control.mode", "explicit"),
            ("http.host", "127.0.0.1"),
            ("grpc.host", "::1"),
        ])
        .check_control_exposure(false)
        .unwrap();
        config(&[
            ("model_control.mode", "explicit"),
            ("http.host", "127.0.0.1"),
            ("grpc.enabled", "false"),
        ])
        .check_control_exposure(false)
        .unwrap();
        config(&[
            ("model_control.mode", "explicit"),
            ("model_control.allow_unauthenticated_control", "true"),
        ])
        .check_control_exposure(false)
        .unwrap();
    }

    #[test]
    fn one_public_listener_is_enough_to_refuse() {
        let grpc_open = config(&[
            ("model_control.mode", "explicit"),
            ("http.host", "127.0.0.1"),
        ]);
        let error = grpc_open.check_control_exposure(false).unwrap_err();
        assert!(error.to_string().contains("gRPC listener"), "{error}");
        assert!(!error.to_string().contains("HTTP listener"), "{error}");
    }

    #[test]
    fn listeners_that_ask_for_client_certificates_are_not_anonymous() {
        let mutual_tls = [
            ("model_control.mode", "explicit"),
            ("tls.cert_file", "/etc/outpost/server.pem"),
            ("tls.key_file", "/etc/outpost/server.key"),
            ("tls.client_ca_file", "/etc/outpost/clients.pem"),
        ];
        config(&mutual_tls).check_control_exposure(false).unwrap();
        let mut plain_grpc = mutual_tls.to_vec();
        plain_grpc.push(("tls.grpc", "false"));
        assert!(config(&plain_grpc).check_control_exposure(false).is_err());
    }
}
