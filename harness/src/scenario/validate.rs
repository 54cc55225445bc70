//! Scenario validation: what serde cannot check. Durations, ranges, LEDs, boards, clients,
//! and the combinations each step allows, each error located in the file; what is
//! written inside strings (variables, regular expressions, topics) is `text_checks`'.

use super::*;

impl Scenario {
    fn duration(&self, span: &Span<String>) -> Result<Duration, ScenarioError> {
        parse_duration(span.get()).map_err(|e| self.error_at(span, e, "not a duration", None))
    }

    fn range(&self, span: &Span<String>) -> Result<Range, ScenarioError> {
        span.get()
            .parse::<Range>()
            .map_err(|e| self.error_at(span, e, "not a range", Some("write e.g. \"0.5..3\"")))
    }

    fn board(&self, span: &BoardName) -> Result<(), ScenarioError> {
        if self.boards.contains(span.get()) {
            Ok(())
        } else {
            Err(self.error_at(
                span,
                format!("unknown board {:?}", span.get()),
                "not in `boards`",
                Some(&format!(
                    "this scenario's boards: {}",
                    self.boards.join(", ")
                )),
            ))
        }
    }

    fn client(&self, span: &ClientName) -> Result<(), ScenarioError> {
        if self.clients.contains_key(span.get()) {
            return Ok(());
        }
        let known: Vec<&String> = self.clients.keys().collect();
        Err(self.error_at(
            span,
            format!("unknown client {:?}", span.get()),
            "not in [clients]",
            Some(&if known.is_empty() {
                "declare it in a [clients.<name>] table".to_owned()
            } else {
                format!("this scenario's clients: {known:?}")
            }),
        ))
    }

    /// Checks what serde cannot: variables, durations, ranges, LEDs, boards, clients,
    /// regular expressions and topics.
    pub fn validate(&self) -> Result<(), ScenarioError> {
        if self.steps.is_empty() {
            return Err(self.file_error("the scenario has no steps", Some("add [[step]] tables")));
        }
        for name in self.clients.keys() {
            if self.boards.contains(name) || name == "ca" {
                return Err(self.file_error(
                    &format!("client {name:?} has the name of a board or of `ca`"),
                    Some("variables such as {<name>.thing} need distinct names"),
                ));
            }
        }
        if let Some(max) = &self.max_speed
            && let Err(e) = crate::clock::RigClock::new(*max.get())
        {
            return Err(self.error_at(
                max,
                e.to_string(),
                "not a speed",
                Some("max_speed = 10 runs the scenario at most 10 times faster than real time"),
            ));
        }
        // First, so the checks below can fill variables in with stand-ins.
        self.validate_variables()?;
        for step in &self.steps {
            self.validate_step(step, false)?;
        }
        self.validate_fleet()
    }

    /// A `[fleet]` scenario: its section's values, `fleet_power_on` first and once, then
    /// only fleet steps and `wait`; fleet steps only in such a scenario.
    fn validate_fleet(&self) -> Result<(), ScenarioError> {
        let fleet_step = |step: &Step| {
            matches!(
                step,
                Step::FleetPowerOn(_) | Step::FleetStorm(_) | Step::ExpectFleet(_)
            )
        };
        let Some(fleet) = &self.fleet else {
            return match self.steps.iter().find(|s| fleet_step(s.get())) {
                Some(step) => Err(self.error_at(
                    step,
                    format!("a {} step needs a [fleet] section", step.get().kind()),
                    "a fleet step",
                    Some("[fleet] boards = 100 runs a fleet instead of the rig's boards"),
                )),
                None => Ok(()),
            };
        };
        if !(1..=100_000).contains(fleet.boards.get()) {
            return Err(self.error_at(
                &fleet.boards,
                "a fleet has 1 to 100000 boards",
                "here",
                None,
            ));
        }
        if let Some(mode) = &fleet.mode {
            self.status(mode, &["jitr", "jitp", "preregistered"])?;
        }
        if let Some(speed) = &fleet.speed
            && let Err(e) = crate::clock::RigClock::new(*speed.get())
        {
            return Err(self.error_at(speed, e.to_string(), "not a speed", None));
        }
        if let Some(ramp) = &fleet.ramp {
            self.duration(ramp)?;
        }
        for (index, step) in self.steps.iter().enumerate() {
            let first = index == 0;
            let problem = match step.get() {
                Step::FleetPowerOn(_) if !first => Some("fleet_power_on comes first, once"),
                Step::FleetPowerOn(_) => None,
                _ if first => Some("a fleet scenario starts with fleet_power_on"),
                Step::Wait(_) => None,
                other if fleet_step(other) => None,
                _ => Some("a fleet scenario has only fleet steps and `wait`"),
            };
            if let Some(problem) = problem {
                return Err(self.error_at(
                    step,
                    problem,
                    "here",
                    Some("fleet_power_on, fleet_storm, expect_fleet, wait"),
                ));
            }
        }
        Ok(())
    }

    /// Checks one step; `nested` inside a `parallel` block.
    fn validate_step(&self, step: &Span<Step>, nested: bool) -> Result<(), ScenarioError> {
        {
            if let Some(board) = step.get().board() {
                self.board(board)?;
            }
            if let Some(client) = step.get().client() {
                self.client(client)?;
            }
            match step.get() {
                Step::Command(s) => {
                    if let Some(within) = &s.within {
                        self.duration(within)?;
                    }
                    if let Some(reply) = &s.reply {
                        self.regex(reply, false)?;
                    }
                }
                Step::Expect(s) => {
                    self.duration(&s.within)?;
                    self.regex(&s.regex, true)?;
                }
                Step::ExpectLed(s) => self.validate_led(s)?,
                Step::ExpectMessage(s) => {
                    self.duration(&s.within)?;
                    self.topic_name(&s.topic, "expect_message")?;
                    if let Some(regex) = &s.regex {
                        self.regex(regex, false)?;
                    }
                    if let Some(schema) = &s.schema {
                        self.json_schema(schema)?;
                    }
                    if let Some(qos) = &s.qos {
                        self.qos(qos)?;
                    }
                }
                Step::ExpectNoMessage(s) => {
                    self.duration(&s.for_)?;
                    self.topic_name(&s.topic, "expect_no_message")?;
                    if let Some(regex) = &s.regex {
                        self.regex(regex, false)?;
                    }
                }
                Step::Publish(s) => {
                    self.topic_name(&s.topic, "publish")?;
                    if s.payload.is_some() == s.json.is_some() {
                        return Err(self.error_at(
                            &s.topic,
                            "publish needs exactly one of `payload` and `json`",
                            "in this step",
                            None,
                        ));
                    }
                    if let Some(size) = &s.size
                        && *size.get() > 128 * 1024
                    {
                        return Err(self.error_at(
                            size,
                            "a payload over 128 KiB, AWS IoT Core's limit",
                            "at most 131072",
                            None,
                        ));
                    }
                    if let (Some(via), Some(_)) = (&s.via, &s.client)
                        && *via.get() == PublishVia::Http
                    {
                        return Err(self.error_at(
                            via,
                            "a scenario client publishes over its own MQTT connection",
                            "not with `client`",
                            Some("drop `client` to publish as the cloud over HTTP"),
                        ));
                    }
                }
                Step::Wait(s) => {
                    self.duration(&s.for_)?;
                }
                Step::Connect(s) => {
                    if let Some(within) = &s.within {
                        self.duration(within)?;
                    }
                }
                Step::Subscribe(s) => {
                    self.topic_filter(&s.topic)?;
                    if let Some(qos) = &s.qos {
                        self.qos(qos)?;
                    }
                }
                Step::ExpectDisconnected(s) => {
                    self.duration(&s.within)?;
                }
                Step::Certificate(s) => {
                    if let Some(status) = &s.status {
                        self.status(status, &["ACTIVE", "INACTIVE", "REVOKED"])?;
                    } else if !s.register {
                        return Err(self.error_at(
                            &s.board,
                            "certificate needs a `status`, or `register = true`",
                            "in this step",
                            None,
                        ));
                    }
                }
                Step::Ca(s) => {
                    if let Some(status) = &s.status {
                        self.status(status, &["ACTIVE", "INACTIVE"])?;
                    } else if !s.register && s.auto_registration.is_none() {
                        return Err(self.file_error(
                            "a `ca` step needs `register`, `status` or `auto_registration`",
                            Some("e.g. ca = { status = \"INACTIVE\" }"),
                        ));
                    }
                }
                Step::Policy(s) => self.validate_policy(s)?,
                Step::FleetPowerOn(s) => {
                    self.duration(&s.within)?;
                }
                Step::FleetStorm(s) => {
                    for span in [&s.after, &s.within].into_iter().flatten() {
                        self.duration(span)?;
                    }
                }
                Step::ExpectFleet(s) => {
                    if let Some(p99) = &s.first_telemetry_p99 {
                        self.duration(p99)?;
                    }
                }
                Step::Snapshot(s) => self.validate_snapshot(s)?,
                Step::Parallel(steps) => {
                    if nested {
                        return Err(self.error_at(
                            step,
                            "a parallel block cannot hold another parallel block",
                            "nested",
                            None,
                        ));
                    }
                    if steps.is_empty() {
                        return Err(self.error_at(step, "an empty parallel block", "here", None));
                    }
                    for inner in steps {
                        self.validate_step(inner, true)?;
                    }
                }
                Step::Fault(s) => self.validate_fault(s)?,
                Step::ExpectRetry(s) => {
                    self.duration(&s.within)?;
                }
                Step::ExpectPacket(s) => {
                    self.duration(&s.within)?;
                }
                Step::LongDuration(s) => {
                    self.duration(&s.for_)?;
                    for span in [&s.every, &s.recover].into_iter().flatten() {
                        self.duration(span)?;
                    }
                }
                Step::ExpectCipherSuites(s) => {
                    self.duration(&s.within)?;
                    if s.offer_each && Scenario::checked_duration(&s.within).is_zero() {
                        return Err(self.error_at(
                            &s.within,
                            "with `offer_each`, `within` is how long each offer waits for the \
                             board's next handshake",
                            "no time to wait",
                            Some("longer than the board's backoff ceiling, e.g. within = \"1m\""),
                        ));
                    }
                }
                Step::Job(s) => self.job_id(&s.id)?,
                Step::ExpectJob(s) => {
                    self.job_id(&s.id)?;
                    self.duration(&s.within)?;
                    let statuses = mock_broker::aws::jobs::ExecutionStatus::ALL.map(|s| s.as_str());
                    self.status(&s.status, &statuses)?;
                }
                Step::ExpectBackoff(s) => {
                    self.duration(&s.within)?;
                    if s.attempts < 4 {
                        return Err(self.error_at(
                            &s.board,
                            "expect_backoff needs at least 4 attempts to judge",
                            "in this step",
                            None,
                        ));
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn validate_snapshot(&self, s: &SnapshotStep) -> Result<(), ScenarioError> {
        let name = &self.snapshot_name(&s.name);
        let valid_name = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid_name {
            return Err(self.error_at(
                &s.name,
                format!("{:?} cannot name a snapshot file", s.name.get()),
                "letters, digits, _ and - only",
                None,
            ));
        }
        match (&s.topic, &s.console) {
            (Some(topic), None) => self.topic_name(topic, "snapshot")?,
            (None, Some(_)) if s.client.is_none() => {}
            _ => {
                return Err(self.error_at(
                    &s.name,
                    "snapshot needs exactly one of `topic` (with an optional `client`) and `console`",
                    "in this step",
                    None,
                ));
            }
        }
        for pattern in &s.redact {
            self.regex(pattern, false)?;
        }
        Ok(())
    }

    fn status(&self, status: &Span<String>, allowed: &[&str]) -> Result<(), ScenarioError> {
        if allowed.contains(&status.get().as_str()) {
            Ok(())
        } else {
            Err(self.error_at(
                status,
                format!("status is one of {}", allowed.join(", ")),
                "unknown status",
                None,
            ))
        }
    }

    /// A policy's name (unless variables fill it in later) and its document, as
    /// CreatePolicy would take them.
    fn validate_policy(&self, s: &crate::scenario::PolicyStep) -> Result<(), ScenarioError> {
        let name = s.name.get();
        let valid = |c: char| c.is_ascii_alphanumeric() || "+=,.@-_".contains(c);
        if !name.contains('{') && (name.is_empty() || name.len() > 128 || !name.chars().all(valid))
        {
            return Err(self.error_at(
                &s.name,
                format!("{name:?} is not a policy name"),
                "1 to 128 letters, digits and +=,.@-_",
                None,
            ));
        }
        let document = crate::scenario::json_of(s.document.get()).to_string();
        mock_broker::aws::policy::PolicyDocument::parse(&document).map_err(|e| {
            self.error_at(
                &s.document,
                format!("this policy document does not parse: {e}"),
                "the document",
                Some("a policy has Version and Statement = [{ Effect, Action, Resource }]"),
            )
        })?;
        Ok(())
    }

    fn job_id(&self, id: &Span<String>) -> Result<(), ScenarioError> {
        if mock_broker::aws::jobs::valid_job_id(id.get()) {
            return Ok(());
        }
        Err(self.error_at(
            id,
            format!("{:?} is not a job id", id.get()),
            "1 to 64 letters, digits, _ and -",
            None,
        ))
    }

    fn qos(&self, qos: &Span<u8>) -> Result<(), ScenarioError> {
        if *qos.get() > 1 {
            return Err(self.error_at(
                qos,
                format!("QoS {} is not one AWS IoT Core supports", qos.get()),
                "0 or 1",
                Some("AWS IoT Core has QoS 0 and 1 only"),
            ));
        }
        Ok(())
    }

    fn validate_fault(&self, s: &FaultStep) -> Result<(), ScenarioError> {
        let actions = [
            s.withhold_connack.is_some(),
            s.withhold.is_some(),
            s.disconnect,
            s.expire_session,
            s.unstable.is_some(),
            s.server_cert.is_some(),
            s.clear,
        ];
        let place = s
            .withhold
            .as_ref()
            .or(s.server_cert.as_ref())
            .or(s.board.as_ref());
        if actions.iter().filter(|a| **a).count() != 1 {
            let message = "fault needs exactly one of withhold_connack, withhold, disconnect, unstable, expire_session, server_cert and clear";
            return Err(match place {
                Some(span) => self.error_at(span, message, "in this step", None),
                None => self.file_error(message, None),
            });
        }
        if let Some(packet) = &s.withhold
            && !["puback", "suback", "pingresp"].contains(&packet.get().as_str())
        {
            return Err(self.error_at(
                packet,
                "withhold is puback, suback or pingresp",
                "unknown packet",
                None,
            ));
        }
        if let Some(cert) = &s.server_cert
            && !["expired", "wrong_name", "untrusted", "large", "restore"]
                .contains(&cert.get().as_str())
        {
            return Err(self.error_at(
                cert,
                "server_cert is expired, wrong_name, untrusted, large or restore",
                "unknown",
                None,
            ));
        }
        if s.disconnect && s.board.is_none() {
            return Err(self.file_error("fault disconnect needs a board", None));
        }
        if s.expire_session && s.board.is_none() {
            return Err(self.file_error("fault expire_session needs a board", None));
        }
        if s.unstable.is_some() && s.board.is_none() {
            return Err(self.file_error("fault unstable needs a board", None));
        }
        Ok(())
    }

    fn validate_led(&self, s: &ExpectLedStep) -> Result<(), ScenarioError> {
        if !LED_NAMES.contains(&s.led.get().as_str()) {
            return Err(self.error_at(
                &s.led,
                format!("unknown LED {:?}", s.led.get()),
                "unknown LED",
                Some("LEDs: blue, green, yellow, red"),
            ));
        }
        let on_off = |span: &Span<String>| match span.get().as_str() {
            "on" | "off" => Ok(()),
            _ => Err(self.error_at(span, "expected \"on\" or \"off\"", "not on/off", None)),
        };
        match (&s.is, &s.holds, &s.blinking) {
            (Some(is), None, None) => {
                on_off(is)?;
                let within = s
                    .within
                    .as_ref()
                    .ok_or_else(|| self.error_at(is, "`is` needs `within`", "here", None))?;
                self.duration(within)?;
            }
            (None, Some(holds), None) => {
                on_off(holds)?;
                let window = s
                    .for_
                    .as_ref()
                    .ok_or_else(|| self.error_at(holds, "`holds` needs `for`", "here", None))?;
                self.duration(window)?;
            }
            (None, None, Some(blink)) => {
                self.range(&blink.hz)?;
                if let Some(duty) = &blink.duty {
                    self.range(duty)?;
                }
                let window = s.for_.as_ref().ok_or_else(|| {
                    self.error_at(&blink.hz, "`blinking` needs `for`", "here", None)
                })?;
                self.duration(window)?;
            }
            _ => {
                return Err(self.error_at(
                    &s.led,
                    "expect_led needs exactly one of `is`, `holds` and `blinking`",
                    "in this step",
                    None,
                ));
            }
        }
        Ok(())
    }
}
