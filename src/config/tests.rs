use super::*;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, "test.toml", |name| match name {
        "API_SECRET" => Some("from-env".into()),
        "QUOTED" => Some("a\"b\\c".into()),
        _ => None,
    })
}

const MINIMAL: &str = r#"
[[agents]]
name = "Admin"
token = "admin-token-123"
role = "admin"

[channels.api]
kind = "api"
secret = "${API_SECRET}"
"#;

#[test]
fn minimal_config_takes_defaults_and_env() {
    let config = parse(MINIMAL).unwrap();
    assert_eq!(config.server.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(config.agents[0].role, Role::Admin);
    let channel = &config.channels[0];
    assert_eq!(
        (channel.id.as_str(), channel.kind(), channel.enabled),
        ("api", "api", true)
    );
    let ChannelSettings::Api(api) = &channel.settings else {
        panic!("an api channel")
    };
    assert_eq!(api.secret.expose(), "from-env");
    assert_eq!(format!("{:?}", api.secret), "***", "secrets never print");
    assert_eq!(
        channel.rate_limits,
        switchboard_connector_api::DEFAULT_RATE_LIMITS
    );
}

#[test]
fn a_partial_rate_limit_keeps_the_kinds_other_defaults() {
    let text = "[[agents]]\nname = \"A\"\ntoken = \"t\"\n\n[channels.tg]\nkind = \"telegram\"\ntoken = \"1:x\"\nmode = \"polling\"\n\n[channels.tg.rate_limit]\ngroup = { count = 10, per_seconds = 60 }\n";
    let config = Config::parse(text, "test.toml", |_| None).unwrap();
    let limits = config.channels[0].rate_limits;
    let defaults = switchboard_connector_telegram::DEFAULT_RATE_LIMITS;
    assert_eq!(limits.channel, defaults.channel);
    assert_eq!(limits.recipient, defaults.recipient);
    assert_eq!(
        limits.group,
        Some(switchboard_core::ratelimit::Rate::new(10, 60.0, None))
    );
}

#[test]
fn env_values_are_escaped_and_defaults_apply() {
    let text = MINIMAL.replace("${API_SECRET}", "${QUOTED}")
        + "\n[tickets]\nreference_prefix = \"${PREFIX:-HD}\"\n";
    let config = parse(&text).unwrap();
    let ChannelSettings::Api(api) = &config.channels[0].settings else {
        panic!("an api channel")
    };
    assert_eq!(api.secret.expose(), "a\"b\\c");
    assert_eq!(config.gateway.reference_prefix, "HD");
}

#[test]
fn every_problem_is_reported_with_its_key_and_line() {
    let text = r#"
[[agents]]
name = "Admin"
token = "${MISSING_TOKEN}"
"#;
    let error = parse(text).unwrap_err().to_string();
    assert!(
        error.contains("line 4") && error.contains("MISSING_TOKEN is not set"),
        "{error}"
    );

    let text = r#"
[tickets]
reference_prefix = "sb1"

[[agents]]
name = "Admin"
token = "t"

[channels.api]
kind = "api"
secret = "s"
callback_url = "ftp://example.com"
colour = "blue"

[channels.chat]
kind = "carrier-pigeon"

[channels.Bad]
kind = "api"
"#;
    let error = parse(text).unwrap_err();
    let keys: Vec<_> = error
        .problems
        .iter()
        .map(|p| (p.key.as_str(), p.line))
        .collect();
    assert!(
        keys.contains(&("tickets.reference_prefix", Some(3))),
        "{keys:?}"
    );
    assert!(
        keys.contains(&("channels.api.colour", Some(13))),
        "{keys:?}"
    );
    assert!(keys.contains(&("channels.chat.kind", Some(16))), "{keys:?}");
    assert!(keys.iter().any(|(k, _)| *k == "channels.Bad"), "{keys:?}");
    let text = error.to_string();
    assert!(text.contains("unknown field `colour`"), "{text}");
    assert!(text.contains("carrier-pigeon"), "{text}");
}

/// The key a problem names is the one to fix: serde's messages alone named the
/// value (`channels.api.12345`) or nothing (`channels.api.kind`).
#[test]
fn a_wrong_value_is_reported_on_its_own_key() {
    let problems = |text: &str| -> Vec<(String, Option<usize>, String)> {
        parse(text)
            .unwrap_err()
            .problems
            .into_iter()
            .map(|p| (p.key, p.line, p.message))
            .collect()
    };
    let api = |secret: &str| {
        format!(
            "[[agents]]\nname = \"A\"\ntoken = \"t\"\n\n[channels.api]\nkind = \"api\"\nsecret = {secret}\n"
        )
    };
    let [(key, line, message)] = &problems(&api("\"\""))[..] else {
        panic!("one problem")
    };
    assert_eq!((key.as_str(), *line), ("channels.api.secret", Some(7)));
    assert!(message.contains("must not be empty"), "{message}");
    let [(key, _, message)] = &problems(&api("12345"))[..] else {
        panic!("one problem")
    };
    assert_eq!(key, "channels.api.secret");
    assert!(message.contains("expected a string"), "{message}");
    let [(key, _, _)] = &problems(&api("\"  \""))[..] else {
        panic!("one problem")
    };
    assert_eq!(key, "channels.api.secret", "a blank secret is an empty one");

    let [(key, line, message)] = &problems(
        "[[agents]]\nname = \"A\"\ntoken = \"t\"\n\n[channels.mail]\nkind = \"email\"\naddress = \"help@example.com\"\n[channels.mail.imap]\nhost = \"imap.example.com\"\nport = \"993\"\n",
    )[..] else {
        panic!("one problem")
    };
    assert_eq!(
        (key.as_str(), *line),
        ("channels.mail.imap.port", Some(10)),
        "a nested key is named in full"
    );
    assert!(message.contains("expected u16"), "{message}");
}

#[test]
fn a_blank_agent_token_is_refused_by_name() {
    for token in ["\"\"", "\" \"", "\"\\t\""] {
        let text = format!(
            "[[agents]]\nname = \"A\"\ntoken = \"a-good-token\"\n\n[[agents]]\nname = \"B\"\ntoken = {token}\n"
        );
        let error = parse(&text).unwrap_err();
        let [problem] = &error.problems[..] else {
            panic!("one problem for {token}: {error}")
        };
        assert_eq!(
            (problem.key.as_str(), problem.line),
            ("agents[1].token", Some(7)),
            "{token}: {error}"
        );
    }
    let text = "[[agents]]\nname = \"A\"\ntoken = \" padded \"\n";
    let error = parse(text).unwrap_err().to_string();
    assert!(
        error.contains("agents[0].token") && error.contains("could never sign in"),
        "{error}"
    );
}

#[test]
fn callback_url_and_rate_limits_are_checked() {
    let text = MINIMAL.to_owned()
        + "callback_url = \"not a url\"\n[channels.api.rate_limit]\nchannel = { count = 0 }\n";
    let error = parse(&text).unwrap_err().to_string();
    assert!(error.contains("channels.api.callback_url"), "{error}");
    assert!(
        error.contains("channels.api.rate_limit.channel: count must be at least 1"),
        "{error}"
    );
}

#[test]
fn syntax_errors_name_the_line() {
    let error = parse("[server]\nlisten = \n").unwrap_err();
    assert_eq!(error.problems[0].line, Some(2));
    let error = parse("[server]\nport = 1\n").unwrap_err().to_string();
    assert!(error.contains("unknown field `port`"), "{error}");
}

#[test]
fn the_shipped_config_is_valid() {
    let text = include_str!("../../config/switchboard.toml");
    let config = Config::parse(text, "switchboard.toml", |_| None).unwrap();
    assert!(
        config
            .channels
            .iter()
            .any(|c| c.kind() == "api" && c.enabled)
    );
    assert!(config.agents.iter().any(|a| a.role == Role::Admin));
}

#[test]
fn the_example_configs_are_valid() {
    let text = include_str!("../../config/examples/telegram.toml");
    let env = |name: &str| (name == "TELEGRAM_BOT_TOKEN").then(|| "123456789:AAtest".to_owned());
    let config = Config::parse(text, "telegram.toml", env).unwrap();
    assert!(config.channels.iter().any(|c| c.kind() == "telegram"));
    let text = include_str!("../../config/examples/email.toml");
    let env = |name: &str| (name == "SUPPORT_MAIL_PASSWORD").then(|| "secret".to_owned());
    let config = Config::parse(text, "email.toml", env).unwrap();
    assert!(config.channels.iter().any(|c| c.kind() == "email"));
    let text = include_str!("../../config/examples/whatsapp.toml");
    let env = |name: &str| name.starts_with("WHATSAPP_").then(|| "secret".to_owned());
    let config = Config::parse(text, "whatsapp.toml", env).unwrap();
    assert!(config.channels.iter().any(|c| c.kind() == "whatsapp"));
    let text = include_str!("../../config/examples/sms.toml");
    let env = |name: &str| (name == "TWILIO_AUTH_TOKEN").then(|| "secret".to_owned());
    let config = Config::parse(text, "sms.toml", env).unwrap();
    assert!(config.channels.iter().any(|c| c.kind() == "sms"));
    let text = include_str!("../../config/examples/webchat.toml");
    let env = |name: &str| {
        (name.starts_with("SWITCHBOARD_CHAT_") || name == "SUPPORT_MAIL_PASSWORD")
            .then(|| "secret".to_owned())
    };
    let config = Config::parse(text, "webchat.toml", env).unwrap();
    assert!(config.channels.iter().any(|c| c.kind() == "webchat"));
    // The helpdesk example reads its knowledge base next to the config folder.
    let text = include_str!("../../config/examples/helpdesk.toml");
    let env = |name: &str| {
        name.ends_with("_TOKEN")
            .then(|| format!("token-{name}"))
            .or_else(|| (name == "SWITCHBOARD_NOTIFY_SECRET").then(|| "secret".to_owned()))
    };
    let config = Config::parse(text, "config/examples/helpdesk.toml", env).unwrap();
    let helpdesk = config.gateway.helpdesk.clone();
    assert!(helpdesk.knowledge.articles().len() >= 10);
    assert_eq!(helpdesk.canned.len(), 1);
    assert!(
        config.helpdesk_rules["notify"].get("secret").is_none(),
        "the secret stays out of the audit log"
    );
}

#[test]
fn helpdesk_mistakes_are_named_by_key() {
    let base = "[[agents]]\nname = \"Ada\"\ntoken = \"t\"\n";
    for (section, key) in [
        (
            "[[helpdesk.sla]]\nname = \"x\"\ncalendar = \"nope\"\nfirst_response_minutes = 5\n",
            "helpdesk.sla[0].calendar",
        ),
        (
            "[[helpdesk.sla]]\nname = \"x\"\n",
            "helpdesk.sla[0].first_response_minutes",
        ),
        (
            "[[helpdesk.teams]]\nname = \"t\"\nagents = [\"Bob\"]\n",
            "helpdesk.teams[0].agents[0]",
        ),
        (
            "[helpdesk]\nlanguages = [\"klingon\"]\n",
            "helpdesk.languages[0]",
        ),
        (
            "[[helpdesk.triage]]\nname = \"r\"\ncategory = \"x\"\nregex = [\"(\"]\n",
            "helpdesk.triage[0].regex[0]",
        ),
    ] {
        let error = Config::parse(&format!("{base}{section}"), "t.toml", |_| None).unwrap_err();
        assert!(
            error.problems.iter().any(|p| p.key == key),
            "{key}: {:?}",
            error.problems
        );
    }
}

/// What a web chat names elsewhere in the file must be there: its calendar, and an
/// enabled email channel to continue on.
#[test]
fn access_and_retention_mistakes_are_named_by_key() {
    let base = "[[agents]]\nname = \"Ada\"\ntoken = \"t\"\n[[agents]]\nname = \"Aud\"\ntoken = \"u\"\nrole = \"auditor\"\n";
    for (section, key) in [
        (
            "[[helpdesk.teams]]\nname = \"t\"\nagents = [\"Aud\"]\n",
            "helpdesk.teams[0].agents[0]",
        ),
        (
            "[[helpdesk.teams]]\nname = \"t\"\nassignment = \"manual\"\nsupervisors = [\"Ada\"]\n",
            "helpdesk.teams[0].supervisors[0]",
        ),
        ("[[retention]]\ndays = 0\n", "retention[0].days"),
        (
            "[[retention]]\nchannel = \"nope\"\ndays = 3\n",
            "retention[0].channel",
        ),
        (
            "[[retention]]\ndays = 30\n[[retention]]\ncategory = \"kyc\"\ndays = 3\n",
            "retention[1]",
        ),
        (
            "[server]\nmax_header_bytes = 1024\n",
            "server.max_header_bytes",
        ),
        (
            "[server]\ncors_origins = [\"*\"]\n",
            "server.cors_origins[0]",
        ),
        (
            "[server]\ntoken_requests_per_second = 0\n",
            "server.token_requests_per_second",
        ),
    ] {
        let error = Config::parse(&format!("{base}{section}"), "t.toml", |_| None).unwrap_err();
        assert!(
            error.problems.iter().any(|p| p.key == key),
            "{key}: {:?}",
            error.problems
        );
    }
    // Membership: an agent's teams, as agent or supervisor.
    let config = Config::parse(
        &format!("{base}[[agents]]\nname = \"Sue\"\ntoken = \"s\"\nrole = \"supervisor\"\n[[helpdesk.teams]]\nname = \"kyc\"\nagents = [\"Ada\"]\nsupervisors = [\"Sue\"]\n[[helpdesk.teams]]\nname = \"vip\"\nassignment = \"manual\"\nsupervisors = [\"Sue\"]\n"),
        "t.toml",
        |_| None,
    )
    .unwrap();
    let teams = |name: &str| {
        config
            .agents
            .iter()
            .find(|a| a.name == name)
            .unwrap()
            .teams
            .clone()
    };
    assert_eq!(teams("Ada"), ["kyc"]);
    assert_eq!(teams("Sue"), ["kyc", "vip"]);
    assert!(teams("Aud").is_empty());
}

#[test]
fn a_chats_calendar_and_email_channel_must_exist() {
    let chat = |extra: &str| {
        format!(
            "[[agents]]\nname = \"A\"\ntoken = \"t\"\n\n[channels.chat]\nkind = \"webchat\"\nsecret = \"s\"\nallowed_origins = [\"https://www.example.com\"]\n{extra}\n"
        )
    };
    let problem = |text: String| {
        let error = parse(&text).unwrap_err();
        let [problem] = &error.problems[..] else {
            panic!("one problem: {error}")
        };
        (problem.key.clone(), problem.message.clone())
    };
    let (key, message) = problem(chat("hours = \"support\""));
    assert_eq!(key, "channels.chat.hours");
    assert!(message.contains("[calendars.support]"), "{message}");
    let (key, message) = problem(chat("continue_by_email = \"mail\""));
    assert_eq!(key, "channels.chat.continue_by_email");
    assert!(message.contains("not a configured channel"), "{message}");
    let (key, message) = problem(chat(
        "continue_by_email = \"api\"\n\n[channels.api]\nkind = \"api\"\nsecret = \"x\"",
    ));
    assert_eq!(key, "channels.chat.continue_by_email");
    assert!(message.contains("must be an email channel"), "{message}");
    let (key, message) = problem(chat(
        "hours = \"support\"\n\n[calendars.support]\ntime_zone = \"Asia/Kuala_Lumpur\"\nmonday = [\"09:00-25:00\"]",
    ));
    assert_eq!(key, "calendars.support.monday");
    assert!(message.contains("09:00-25:00"), "{message}");
    parse(&chat(
        "hours = \"support\"\n\n[calendars.support]\ntime_zone = \"Asia/Kuala_Lumpur\"\nmonday = [\"09:00-13:00\", \"14:00-18:00\"]\nholidays = [\"2026-12-25\"]",
    ))
    .unwrap();
}

proptest::proptest! {
    /// Any text, including broken TOML and stray `${`, is a config or a list of
    /// problems: never a panic.
    #[test]
    fn arbitrary_text_never_panics(text in "(\\PC|\n|\\$\\{|\\[|\\]|=|\"){0,300}") {
        let _ = Config::parse(&text, "fuzz.toml", |_| None);
    }

    #[test]
    fn mutated_valid_configs_never_panic(cut in 0usize..400, insert in "(\\PC|\n){0,20}") {
        let mut text = MINIMAL.to_owned();
        let at = text.char_indices().map(|(i, _)| i).nth(cut % MINIMAL.chars().count()).unwrap_or(0);
        text.insert_str(at, &insert);
        let _ = Config::parse(&text, "fuzz.toml", |_| None);
    }
}

#[test]
fn absurd_durations_are_refused_not_panicked_on() {
    let text = MINIMAL.to_owned()
        + "[channels.api.rate_limit]\nchannel = { count = 1, per_seconds = 1e300 }\n\n[outbox]\nlease_seconds = 1e300\n\n[tickets]\nreopen_window_hours = 1e30\n";
    let error = parse(&text).unwrap_err().to_string();
    for key in [
        "rate_limit.channel",
        "outbox.lease_seconds",
        "tickets.reopen_window_hours",
    ] {
        assert!(error.contains(key), "{key} not reported: {error}");
    }
}

/// The list of development values is the one the shipped configs use: a secret
/// default added to a sample without being listed here fails this test.
#[test]
fn development_secrets_match_the_shipped_configs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let mut files = vec![root.join("switchboard.toml")];
    for entry in std::fs::read_dir(root.join("examples")).unwrap() {
        files.push(entry.unwrap().path());
    }
    let mut defaults = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for (_, rest) in text.match_indices("${").map(|(i, _)| text.split_at(i)) {
            let expression = &rest[2..rest.find('}').unwrap()];
            if let Some((name, default)) = expression.split_once(":-")
                && ["TOKEN", "SECRET", "PASSWORD"]
                    .iter()
                    .any(|s| name.contains(s))
            {
                defaults.push(default.to_owned());
            }
        }
    }
    assert!(!defaults.is_empty());
    for default in &defaults {
        assert!(
            DEVELOPMENT_SECRETS.contains(&default.as_str()),
            "{default} is not listed"
        );
    }
    for listed in DEVELOPMENT_SECRETS {
        assert!(
            defaults.iter().any(|d| d == listed),
            "{listed} is no longer shipped"
        );
    }
}

#[test]
fn development_secrets_warn_only_off_loopback() {
    let sample = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("config/switchboard.toml"),
    )
    .unwrap();
    let load = |text: &str| Config::parse(text, "switchboard.toml", |_| None).unwrap();
    let config = load(&sample);
    assert_eq!(
        config.development_secrets,
        [
            "agents[0].token",
            "channels.api.secret",
            "channels.chat.secret"
        ]
    );
    assert_eq!(config.development_secrets_warning(), None, "loopback only");

    let exposed = load(&sample.replace("127.0.0.1:8080", "0.0.0.0:8080"));
    let warning = exposed.development_secrets_warning().unwrap();
    assert!(
        warning
            .starts_with("agents[0].token, channels.api.secret, channels.chat.secret still hold")
            && warning.contains("0.0.0.0:8080"),
        "{warning}"
    );
    for value in DEVELOPMENT_SECRETS {
        assert!(
            !warning.contains(value),
            "the warning shows a secret: {warning}"
        );
    }

    let from_env = Config::parse(
        &sample.replace("127.0.0.1:8080", "[::]:8080"),
        "switchboard.toml",
        |name| (!name.ends_with("_URL")).then(|| format!("{name}-set-by-the-operator")),
    )
    .unwrap();
    assert_eq!(from_env.development_secrets_warning(), None);
}
