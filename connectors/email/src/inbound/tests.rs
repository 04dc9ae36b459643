//! Tests of [`parse`](super::parse): the corpus in `tests/corpus/email`, with what
//! each file must give, and the pieces (html, quotes, headers, attachments, bounces,
//! automatic signs, broken input).

use super::*;
use std::path::PathBuf;

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus/email")
}

fn read(file: &str) -> Vec<u8> {
    std::fs::read(corpus_dir().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn parsed(file: &str) -> ParsedMail {
    parse(&read(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// What `text` must be.
enum Text {
    Is(&'static str),
    StartsWith(&'static str),
}

/// What `kind` must be; for automatic mail, how `reason` starts.
enum Kind {
    Regular,
    Automatic(&'static str),
    List(&'static str),
    Bounce {
        original: &'static str,
        action: &'static str,
        permanent: bool,
    },
}

/// One corpus file and what parsing it must give.
struct Case {
    file: &'static str,
    subject: &'static str,
    from: &'static str,
    message_id: &'static str,
    in_reply_to: &'static [&'static str],
    references: &'static [&'static str],
    text: Text,
    html: bool,
    /// filename, content type, content id, inline.
    attachments: &'static [(&'static str, &'static str, Option<&'static str>, bool)],
    kind: Kind,
}

const ACK: &str = "sb.01JNX2D4A0.7k3m9q@support.example.com";
const SHIPPED: &str = "sb.01JNX4K7Q2.7k3m9q@support.example.com";
const JANE_GMAIL: &str = "CAJx8kQ2mV+fZc1R0o5nW3hTqYp9dG7sLbE4u6AaXkH2jN8rPqw@mail.gmail.com";

const CASES: &[Case] = &[
    Case {
        file: "gmail-reply.eml",
        subject: "Re: Your order 4417 [#SB-7K3M9Q]",
        from: "jane.doe@example.net",
        message_id: JANE_GMAIL,
        in_reply_to: &[SHIPPED],
        references: &[ACK, SHIPPED],
        text: Text::Is(
            "Hi,\n\nThe parcel still hasn’t arrived. The tracking page says “in transit” since Friday.\n\nCould you check with the carrier?\n\nThanks,\nJane",
        ),
        html: true,
        attachments: &[],
        kind: Kind::Regular,
    },
    Case {
        file: "thunderbird-reply.eml",
        subject: "Re: Invoice for February [#SB-4TQ8ZW]",
        from: "marek@example.org",
        message_id: "5f1c2a9e-3b7d-4e0a-9c61-2d8e4b7a1f03@example.org",
        in_reply_to: &["sb.01JNW9C3D4.4tq8zw@support.example.com"],
        references: &[
            "sb.01JNV0A1B2.4tq8zw@support.example.com",
            "sb.01JNW9C3D4.4tq8zw@support.example.com",
        ],
        text: Text::Is(
            "Hello,\n\nthanks for the quick answer. I checked again and the VAT number on the invoice is still the old one (CZ12345678). Our new one is CZ87654321 since January.\n\nCan you issue a corrected invoice?\n\nBest regards\nMarek",
        ),
        html: false,
        attachments: &[],
        kind: Kind::Regular,
    },
    Case {
        file: "outlook-reply.eml",
        subject: "RE: Your order 4417 [#SB-7K3M9Q]",
        from: "jane.doe@example.net",
        message_id: "AM9PR03MB71210F3C2A9E4B1D8C7E5F12A4B09@AM9PR03MB7121.eurprd03.prod.outlook.com",
        in_reply_to: &[],
        references: &[],
        text: Text::Is(
            "Hello,\n\nThe parcel came today, but the blue mug is missing. I had already paid it déjà twice.\n\nKind regards,\nJane",
        ),
        html: true,
        attachments: &[],
        kind: Kind::Regular,
    },
    Case {
        file: "reply-in-reply-to-only.eml",
        subject: "Re: Password reset [#SB-2HD6RX]",
        from: "tomas.ortega@example.com",
        message_id: "20260303075838.4711.tomas@smtp.example.com",
        in_reply_to: &["sb.01JNY1R5T8.2hd6rx@support.example.com"],
        references: &[],
        text: Text::Is(
            "I tried the link again and it says it has expired.\nCan you send a new one?\n\nTomas",
        ),
        html: false,
        attachments: &[],
        kind: Kind::Regular,
    },
    Case {
        file: "new-message-subject-token.eml",
        subject: "Still waiting for my refund [#SB-7K3M9Q]",
        from: "jane.doe@example.net",
        message_id: "b1e0c7f2-9d44-4a1e-8c3b-6f2a0d9e5c11@example.net",
        in_reply_to: &[],
        references: &[],
        text: Text::Is(
            "Hello again,\n\nI wrote last week about order 4417 and have not heard back.\nPlease reply to this address.",
        ),
        html: false,
        attachments: &[],
        kind: Kind::Regular,
    },
    Case {
        file: "html-only-script.eml",
        subject: "Contact form: broken charger",
        from: "noreply@shop.example.com",
        message_id: "form-5521-1772630055@shop.example.com",
        in_reply_to: &[],
        references: &[],
        text: Text::Is(
            "Name: Lena Fischer\nOrder: 5521\nThe charger arrived broken & the box was open.\nClick here or view order",
        ),
        html: true,
        attachments: &[],
        kind: Kind::Regular,
    },
    Case {
        file: "base64-body.eml",
        subject: "Zwrot towaru – zamówienie 7781",
        from: "a.nowak@example.pl",
        message_id: "e3b4c1d2-77aa-4c1f-b0de-3f5a6b7c8d90@example.pl",
        in_reply_to: &[],
        references: &[],
        text: Text::Is(
            "Dzień dobry,\n\nchciałabym zwrócić zamówienie 7781. Jak mam to zrobić?\n\nPozdrawiam\nAgnieszka",
        ),
        html: false,
        attachments: &[],
        kind: Kind::Regular,
    },
    Case {
        file: "quoted-printable-body.eml",
        subject: "Re\u{a0}: Problème de connexion [#SB-9PL3XA]",
        from: "elodie.martin@example.fr",
        message_id: "0a9b8c7d6e5f4a3b@smtp.example.fr",
        in_reply_to: &["sb.01JNZ7M2K1.9pl3xa@support.example.com"],
        references: &["sb.01JNZ7M2K1.9pl3xa@support.example.com"],
        text: Text::Is(
            "Bonjour,\n\nJe n'arrive toujours pas à me connecter depuis la mise à jour. Le message d'erreur dit «\u{a0}code=403\u{a0}» et la page reste blanche.\n\nMerci d'avance,\nÉlodie",
        ),
        html: false,
        attachments: &[],
        kind: Kind::Regular,
    },
    Case {
        file: "iso-8859-1.eml",
        subject: "Reklamation: Gerät beschädigt [#SB-6MW8RT]",
        from: "juergen.weiss@example.de",
        message_id: "8d2f1e0a-1c3b-4e5d-9f70-a1b2c3d4e5f6@example.de",
        in_reply_to: &["sb.01JNX9F0G3.6mw8rt@support.example.com"],
        references: &["sb.01JNX9F0G3.6mw8rt@support.example.com"],
        text: Text::Is(
            "Guten Tag,\n\ndas Gerät kam beschädigt an, die Verpackung war völlig zerdrückt.\nBitte um Ersatz oder Erstattung.\n\nMit freundlichen Grüßen\nJürgen Weiß",
        ),
        html: false,
        attachments: &[],
        kind: Kind::Regular,
    },
    Case {
        file: "gb2312.eml",
        subject: "关于订单 8842 的问题",
        from: "wang.wei@example.cn",
        message_id: "202603051003053318221@example.cn",
        in_reply_to: &["sb.01JNX3H8J9.3vb7kc@support.example.com"],
        references: &["sb.01JNX3H8J9.3vb7kc@support.example.com"],
        text: Text::Is(
            "您好，\n\n我的订单 8842 还没有发货，请问什么时候可以发出？\n\n谢谢！\n王伟",
        ),
        html: false,
        attachments: &[],
        kind: Kind::Regular,
    },
    Case {
        file: "shift-jis.eml",
        subject: "返品について [#SB-8JD2NF]",
        from: "hanako.sato@example.jp",
        message_id: "20260305102028.A1B2.HANAKO@example.jp",
        in_reply_to: &["sb.01JNX5B6C7.8jd2nf@support.example.com"],
        references: &[],
        text: Text::Is(
            "お世話になっております。\n\n注文番号 9031 の商品を返品したいです。\n手続きを教えてください。\n\nよろしくお願いいたします。\n佐藤 花子",
        ),
        html: false,
        attachments: &[],
        kind: Kind::Regular,
    },
    Case {
        file: "utf8-emoji-subject.eml",
        subject: "Thanks! 🎉 It works now 👍",
        from: "sam.kim@example.com",
        message_id: "7E2C1B0A-9F8E-4D7C-B6A5-948372615A0B@example.com",
        in_reply_to: &["sb.01JNZZ1A2B.5fw9hv@support.example.com"],
        references: &[
            "sb.01JNZY0Z9X.5fw9hv@support.example.com",
            "sb.01JNZZ1A2B.5fw9hv@support.example.com",
        ],
        text: Text::Is("It works now, thank you so much! 🙏\n\nSam"),
        html: true,
        attachments: &[],
        kind: Kind::Regular,
    },
    Case {
        file: "pdf-rfc2231-filename.eml",
        subject: "Rechnung mit falschem Betrag",
        from: "buchhaltung@example.de",
        message_id: "c0ffee00-1234-4abc-8def-000000000001@example.de",
        in_reply_to: &[],
        references: &[],
        text: Text::StartsWith("Guten Tag,\n\nanbei die Rechnung."),
        html: false,
        attachments: &[("Rechnung März 2026.pdf", "application/pdf", None, false)],
        kind: Kind::Regular,
    },
    Case {
        file: "inline-image-cid.eml",
        subject: "Payment error screenshot",
        from: "sam.kim@example.com",
        message_id: "CAB9x0Lw7Yt3pQ2rS1uV4wX5yZ6aB7cD8eF9gH0iJ1kL2mN3oP4q@mail.gmail.com",
        in_reply_to: &[],
        references: &[],
        text: Text::Is(
            "The app shows this error when I try to pay:\n\n[image: screenshot.png]\n\nAny idea?\n\nSam",
        ),
        html: true,
        attachments: &[("screenshot.png", "image/png", Some("ii_m7x1k2p30"), true)],
        kind: Kind::Regular,
    },
    Case {
        file: "attached-eml.eml",
        subject: "Fwd: Order confirmation 5521",
        from: "lena.fischer@example.de",
        message_id: "3e4f5a6b-7c8d-4e9f-a0b1-c2d3e4f5a6b7@example.de",
        in_reply_to: &[],
        references: &[],
        text: Text::Is("Forwarding the confirmation I received: the amount is wrong.\n\nLena"),
        html: false,
        attachments: &[("Order confirmation 5521.eml", "message/rfc822", None, false)],
        kind: Kind::Regular,
    },
    Case {
        file: "out-of-office.eml",
        subject: "Automatic reply: Delivery address change [#SB-5NQ2WD]",
        from: "priya.raman@example.com",
        message_id: "DB9PR02MB67148E1F2C3A4B5D6E7F8091A2B3C@DB9PR02MB6714.eurprd02.prod.outlook.com",
        in_reply_to: &["sb.01JNX6C2V4.5nq2wd@support.example.com"],
        references: &["sb.01JNX6C2V4.5nq2wd@support.example.com"],
        text: Text::StartsWith("I am out of the office until 9 March"),
        html: false,
        attachments: &[],
        kind: Kind::Automatic("Auto-Submitted: auto-replied"),
    },
    Case {
        file: "mailing-list.eml",
        subject: "[example-users] Webhook retries after 5xx",
        from: "carlos@example.org",
        message_id: "a7b8c9d0-e1f2-4a3b-8c4d-5e6f7a8b9c0d@example.org",
        in_reply_to: &[],
        references: &[],
        text: Text::StartsWith("Does anyone know how many times webhooks are retried"),
        html: false,
        attachments: &[],
        kind: Kind::List("users.lists.example.org"),
    },
    Case {
        file: "google-group-customer.eml",
        subject: "Cannot enable two-factor authentication",
        from: "support@support.example.com",
        message_id: "8c1f0e2a-7b3d-4e5f-9a6b-1c2d3e4f5a6b@bank.example",
        in_reply_to: &[],
        references: &[],
        text: Text::StartsWith("Hello, the app says my code is invalid"),
        html: false,
        attachments: &[],
        kind: Kind::List("support.support.example.com"),
    },
    Case {
        file: "bounce-dsn-failed.eml",
        subject: "Undelivered Mail Returned to Sender",
        from: "mailer-daemon@mx1.support.example.com",
        message_id: "20260302160531.8C1A3E0B2F@mx1.support.example.com",
        in_reply_to: &[],
        references: &[],
        text: Text::StartsWith("This is the mail system at host mx1.support.example.com."),
        html: false,
        attachments: &[
            ("attachment-1.txt", "message/delivery-status", None, false),
            ("attachment-2.txt", "text/rfc822-headers", None, false),
        ],
        kind: Kind::Bounce {
            original: SHIPPED,
            action: "failed",
            permanent: true,
        },
    },
    Case {
        file: "bounce-dsn-delayed.eml",
        subject: "Delivery Status Notification (Delay)",
        from: "mailer-daemon@googlemail.com",
        message_id: "69a5c3b2.050a0220.3c1d2e.0001.GMR@mx.google.com",
        in_reply_to: &["sb.01JNY1R5T8.2hd6rx@support.example.com"],
        references: &["sb.01JNY1R5T8.2hd6rx@support.example.com"],
        text: Text::StartsWith("** Delivery incomplete **"),
        html: true,
        attachments: &[
            ("attachment-1.txt", "message/delivery-status", None, false),
            (
                "Re: Password reset [#SB-2HD6RX].eml",
                "message/rfc822",
                None,
                false,
            ),
        ],
        kind: Kind::Bounce {
            original: "sb.01JNY9W3E5.2hd6rx@support.example.com",
            action: "delayed",
            permanent: false,
        },
    },
    Case {
        file: "references-reused-other-sender.eml",
        subject: "Re: Your order 4417 [#SB-7K3M9Q]",
        from: "mark.lee@example.net",
        message_id: "f00dfeed-2b3c-4d5e-8f90-a1b2c3d4e5f6@example.net",
        in_reply_to: &[JANE_GMAIL],
        references: &[ACK, SHIPPED, JANE_GMAIL],
        text: Text::Is(
            "I'm Jane's colleague — the parcel was delivered to our office this\nmorning, so this can be closed.\n\nMark",
        ),
        html: false,
        attachments: &[],
        kind: Kind::Regular,
    },
    Case {
        file: "x-auto-response-suppress-person.eml",
        subject: "Re: Contrato anual [#SB-3QK7TB]",
        from: "r.silva@example.com.br",
        message_id: "CP5PR80MB1234A1B2C3D4E5F6A7B8C9D0E1F2A@CP5PR80MB1234.lamprd80.prod.outlook.com",
        in_reply_to: &["sb.01JP3B7N2M.3qk7tb@support.example.com"],
        references: &["sb.01JP3B7N2M.3qk7tb@support.example.com"],
        text: Text::Is(
            "Olá,\n\npodem enviar o contrato atualizado até sexta-feira?\n\nObrigado,\nRafael",
        ),
        html: false,
        attachments: &[],
        kind: Kind::Regular,
    },
    Case {
        file: "autoresponder-x-autorespond.eml",
        subject: "Thank you for your email",
        from: "info@example.biz",
        message_id: "autorespond.1772553960.12345@host.example.biz",
        in_reply_to: &[],
        references: &[],
        text: Text::Is("Thank you for contacting us. We will answer within two business days."),
        html: false,
        attachments: &[],
        kind: Kind::Automatic("X-Autorespond"),
    },
];

fn check(case: &Case) -> Result<(), String> {
    let mail = parse(&read(case.file)).map_err(|e| e.to_string())?;
    let mut problems = Vec::new();
    let mut expect = |what: &str, ok: bool, got: String| {
        if !ok {
            problems.push(format!("{what}: got {got}"));
        }
    };
    expect(
        "subject",
        mail.subject.as_deref() == Some(case.subject),
        format!("{:?}", mail.subject),
    );
    expect(
        "from",
        mail.from.as_ref().map(|a| a.email.as_str()) == Some(case.from),
        format!("{:?}", mail.from),
    );
    expect(
        "message_id",
        mail.message_id.as_deref() == Some(case.message_id),
        format!("{:?}", mail.message_id),
    );
    expect(
        "in_reply_to",
        mail.in_reply_to == case.in_reply_to,
        format!("{:?}", mail.in_reply_to),
    );
    expect(
        "references",
        mail.references == case.references,
        format!("{:?}", mail.references),
    );
    let text_ok = match case.text {
        Text::Is(text) => mail.text == text,
        Text::StartsWith(prefix) => mail.text.starts_with(prefix),
    };
    expect("text", text_ok, format!("{:?}", mail.text));
    expect(
        "html",
        mail.html.is_some() == case.html,
        format!("{:?}", mail.html.is_some()),
    );
    let attachments: Vec<_> = mail
        .attachments
        .iter()
        .map(|a| {
            (
                a.filename.as_str(),
                a.content_type.as_str(),
                a.content_id.as_deref(),
                a.inline,
            )
        })
        .collect();
    expect(
        "attachments",
        attachments == case.attachments,
        format!("{attachments:?}"),
    );
    let kind_ok = match (&case.kind, &mail.kind) {
        (Kind::Regular, MailKind::Regular) => true,
        (Kind::Automatic(reason), MailKind::Automatic { reason: got }) => got.starts_with(reason),
        (Kind::List(id), MailKind::List { id: got }) => got.as_deref() == Some(*id),
        (
            Kind::Bounce {
                original,
                action,
                permanent,
            },
            MailKind::Bounce(bounce),
        ) => {
            bounce.original_message_id.as_deref() == Some(*original)
                && bounce.action == *action
                && bounce.permanent == *permanent
        }
        _ => false,
    };
    expect("kind", kind_ok, format!("{:?}", mail.kind));
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n  "))
    }
}

fn corpus_files() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(corpus_dir())
        .expect("the corpus folder")
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".eml"))
        .collect();
    files.sort();
    files
}

#[test]
fn corpus_mail_parses_as_expected() {
    let failures: Vec<String> = CASES
        .iter()
        .filter_map(|case| check(case).err().map(|e| format!("{}:\n  {e}", case.file)))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_corpus_file_has_a_case_and_a_readme_line() {
    let readme = std::fs::read_to_string(corpus_dir().join("README.md")).unwrap();
    for file in corpus_files() {
        assert!(
            CASES.iter().any(|case| case.file == file),
            "{file} has no case"
        );
        assert!(
            readme.contains(&format!("`{file}`")),
            "{file} not in README"
        );
    }
}

#[test]
fn corpus_files_have_crlf_line_ends() {
    for file in corpus_files() {
        let raw = read(&file);
        let bare = raw
            .iter()
            .enumerate()
            .filter(|&(i, &b)| b == b'\n' && (i == 0 || raw[i - 1] != b'\r'))
            .count();
        assert_eq!(bare, 0, "{file} has bare LF line ends");
    }
}

#[test]
fn html_is_sanitized_but_keeps_inline_images() {
    let html = parsed("html-only-script.eml").html.unwrap();
    for banned in [
        "<script",
        "document.cookie",
        "onclick",
        "onload",
        "onmouseover",
        "javascript:",
        "tracker.example.net",
        "<iframe",
        "<form",
        "<input",
        "<style",
    ] {
        assert!(!html.contains(banned), "{banned} left in {html}");
    }
    assert!(html.contains("<b>charger</b>"), "{html}");
    assert!(
        html.contains(r#"href="https://shop.example.com/orders/5521""#),
        "{html}"
    );

    let html = parsed("inline-image-cid.eml").html.unwrap();
    assert!(html.contains(r#"src="cid:ii_m7x1k2p30""#), "{html}");
}

#[test]
fn sanitizing_drops_remote_images_relative_urls_and_risky_styles() {
    let html = sanitize_html(
        r#"<p style="color:red;background:url(https://t.example/x.gif);position:fixed">Hi</p><img src="https://t.example/p.gif" alt="logo"><a href="/account">me</a><a href="cid:x">y</a><svg><image href="https://t.example/s"/></svg>"#,
    );
    assert!(html.contains(r#"<p style="color:red">Hi</p>"#), "{html}");
    assert!(!html.contains("t.example"), "{html}");
    assert!(!html.contains("/account"), "{html}");
    assert!(!html.contains("cid:x"), "{html}");
    assert!(html.contains(r#"alt="logo""#), "{html}");
}

#[test]
fn html_becomes_readable_text() {
    let cases = [
        ("<p>One</p><p>Two &amp; three</p>", "One\nTwo & three"),
        ("<div>a<br>b</div><div><br></div><div>c</div>", "a\nb\n\nc"),
        (
            "<ul><li>first</li><li> second </li></ul>",
            "- first\n- second",
        ),
        (
            "Hi<blockquote>quoted<br><br>more<blockquote>deeper</blockquote></blockquote>after",
            "Hi\n> quoted\n>\n> more\n> > deeper\nafter",
        ),
        ("<pre>  keep\n    indents</pre>", "  keep\n    indents"),
        (
            "<table><tr><td>Item</td><td>Qty</td></tr><tr><td>Mug</td><td>2</td></tr></table>",
            "Item Qty\nMug 2",
        ),
        (
            "<head><title>T</title><style>p{}</style></head><script>x()</script>Text &lt;tag&gt; &eacute;&#233;",
            "Text <tag> éé",
        ),
        ("x<hr>y", "x\n________________________________\ny"),
        ("<p>a&nbsp;&nbsp;b</p><p>&nbsp;</p><p>c</p>", "a  b\n\nc"),
    ];
    for (html, text) in cases {
        assert_eq!(html_to_text(html), text, "{html}");
    }
}

#[test]
fn outlook_desktop_html_keeps_only_the_reply() {
    let html = concat!(
        "<html><head><!--[if gte mso 9]><xml><o:shapedefaults v:ext=\"edit\"/></xml>",
        "<![endif]--><style>p.MsoNormal{margin:0cm}</style></head><body>",
        "<div class=WordSection1><p class=MsoNormal>Hi team,<o:p></o:p></p>",
        "<p class=MsoNormal><o:p>&nbsp;</o:p></p><p class=MsoNormal>Any update?<o:p></o:p></p>",
        "<p class=MsoNormal><o:p>&nbsp;</o:p></p>",
        "<div style='border:none;border-top:solid #E1E1E1 1.0pt'><p class=MsoNormal>",
        "<b>From:</b> Support &lt;s@x.com&gt;<br><b>Sent:</b> 02 March 2026 16:05<br>",
        "<b>To:</b> Priya<br><b>Subject:</b> Address</p></div>",
        "<p class=MsoNormal>Hello Priya,</p></div></body></html>",
    );
    assert_eq!(strip_quoted(&html_to_text(html)), "Hi team,\n\nAny update?");
}

#[test]
fn format_flowed_is_joined() {
    assert_eq!(
        unflow("one \ntwo\n> quoted \n> more\n-- \nsig", false),
        "one two\n> quoted more\n-- \nsig\n"
    );
    assert_eq!(unflow("a-\nb", true), "a-\nb\n");
    assert_eq!(unflow("joined- \nword", true), "joined-word\n");
    assert_eq!(unflow(" >stuffed", false), ">stuffed\n");
}

#[test]
fn strip_quoted_finds_history_markers() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "en, one line",
            "Thanks!\n\nOn Mon, 2 Mar 2026 at 16:05, Support <s@x.com> wrote:\n> old",
            "Thanks!",
        ),
        (
            "en, Gmail wrap inside the address",
            "Thanks!\n\nOn Mon, Mar 2, 2026 at 4:05\u{202f}PM Support <\ns@x.com> wrote:\n\n> old",
            "Thanks!",
        ),
        (
            "en, Gmail wrap before wrote",
            "Thanks!\nOn Mon, 2 Mar 2026 at 16:05, Switchboard Support <support@support.example.com>\nwrote:\n> old",
            "Thanks!",
        ),
        (
            "en, no date",
            "Thanks!\nJane Doe <jane@example.net> wrote:\n> old",
            "Thanks!",
        ),
        (
            "de",
            "Danke.\n\nAm 02.03.2026 um 16:05 schrieb Support <s@x.de>:\n> alt",
            "Danke.",
        ),
        (
            "de, Gmail wrap",
            "Danke.\n\nAm Mo., 2. März 2026 um 16:05 Uhr schrieb Support <\ns@x.de>:\n> alt",
            "Danke.",
        ),
        (
            "fr, nbsp before the colon",
            "Merci.\n\nLe lun. 2 mars 2026 à 16:05, Support <s@x.fr> a écrit\u{a0}:\n> ancien",
            "Merci.",
        ),
        (
            "es",
            "Gracias.\n\nEl lun, 2 mar 2026 a las 16:05, Support (<s@x.es>) escribió:\n> viejo",
            "Gracias.",
        ),
        (
            "pt",
            "Obrigado.\n\nEm seg., 2 de mar. de 2026 às 16:05, Support <s@x.br> escreveu:\n> antigo",
            "Obrigado.",
        ),
        (
            "it",
            "Grazie.\n\nIl giorno lun 2 mar 2026 alle ore 16:05 Support <s@x.it> ha scritto:\n> vecchio",
            "Grazie.",
        ),
        (
            "nl",
            "Bedankt.\n\nOp ma 2 mrt 2026 om 16:05 schreef Support <s@x.nl>:\n> oud",
            "Bedankt.",
        ),
        (
            "ru, Thunderbird",
            "Спасибо.\n\n02.03.2026 16:05, Support пишет:\n> старое",
            "Спасибо.",
        ),
        (
            "ru, написал(а)",
            "Спасибо.\n\nПн, 2 мар. 2026 г. в 16:05, Support <s@x.ru> написал(а):\n> старое",
            "Спасибо.",
        ),
        (
            "ru, Gmail",
            "Спасибо.\n\nпн, 2 мар. 2026 г. в 16:05, Support <s@x.ru>:\n> старое",
            "Спасибо.",
        ),
        (
            "zh",
            "谢谢。\n\nSupport <s@x.cn> 于2026年3月2日周一 下午4:05写道：\n> 旧",
            "谢谢。",
        ),
        (
            "zh, Gmail wrap inside the address",
            "谢谢。\nSupport <\ns@x.cn> 于2026年3月2日周一 下午4:05写道：\n> 旧",
            "谢谢。",
        ),
        (
            "ja, のメッセージ",
            "ありがとう。\n\n2026/03/02 16:05、Support <s@x.jp> のメッセージ:\n> 古い",
            "ありがとう。",
        ),
        (
            "ja, Thunderbird",
            "ありがとう。\n\n2026/03/02 16:05, Support wrote:\n> 古い",
            "ありがとう。",
        ),
        (
            "a time is not a date",
            "At 16:05 my manager wrote:\nplease call back.",
            "At 16:05 my manager wrote:\nplease call back.",
        ),
        (
            "ja, Gmail",
            "ありがとう。\n\n2026年3月2日(月) 16:05 Support <s@x.jp>:\n> 古い",
            "ありがとう。",
        ),
        (
            "Outlook separator",
            "Fine.\n\n-----Original Message-----\nFrom: Support\nSent: Monday\n\nold",
            "Fine.",
        ),
        (
            "Outlook header block with the underscore line",
            "Fine.\n\n________________________________\nFrom: Support <s@x.com>\nSent: Monday, March 2, 2026 16:05\nTo: Jane\nSubject: Order\n\nold",
            "Fine.",
        ),
        (
            "Outlook, French",
            "D'accord.\n\nDe : Support <s@x.fr>\nEnvoyé : lundi 2 mars 2026 16:05\nÀ : Élodie\nObjet : Commande\n\nancien",
            "D'accord.",
        ),
        (
            "Outlook, German, bold labels from html",
            "Gut.\n\n*Von:* Support <s@x.de>\n*Gesendet:* Montag, 2. März 2026 16:05\n*An:* Jürgen\n\nalt",
            "Gut.",
        ),
        (
            "signature",
            "See you.\n\n-- \nJane Doe\n+44 20 7946 0000",
            "See you.",
        ),
        (
            "trailing quote without attribution",
            "Yes, please.\n\n> Shall we send a new one?\n>",
            "Yes, please.",
        ),
        (
            "interleaved answers keep their quotes",
            "On 02/03/2026 16:05, Support wrote:\n> Name?\nJane\n> Order?\n4417\n> Anything else?",
            "> Name?\nJane\n> Order?\n4417",
        ),
        (
            "reply below the quote",
            "On 02/03/2026 16:05, Support wrote:\n> Which colour?\n> Blue or red?\n\nBlue, please.\n\n-- \nJane",
            "Blue, please.",
        ),
        (
            "a forward keeps the forwarded mail",
            "See below.\n\n---------- Forwarded message ---------\nFrom: Shop <o@shop.example>\nDate: Tue, 24 Feb 2026\nSubject: Order\n\nTotal: 129",
            "See below.\n\n---------- Forwarded message ---------\nFrom: Shop <o@shop.example>\nDate: Tue, 24 Feb 2026\nSubject: Order\n\nTotal: 129",
        ),
        (
            "nothing but history: kept",
            "> only a quote\n> nothing else",
            "> only a quote\n> nothing else",
        ),
        (
            "a sentence is not an attribution",
            "On Monday my colleague\nwrote: the order is 4417.\nPlease check.",
            "On Monday my colleague\nwrote: the order is 4417.\nPlease check.",
        ),
        (
            "one field is not a header block",
            "From: my account page\nI cannot log in.",
            "From: my account page\nI cannot log in.",
        ),
        ("CRLF line ends", "Hi\r\n\r\n-- \r\nJ", "Hi"),
    ];
    for (label, text, visible) in cases {
        assert_eq!(strip_quoted(text), *visible, "{label}");
    }
}

#[test]
fn header_fields_are_decoded() {
    let mail = parsed("reply-in-reply-to-only.eml");
    assert_eq!(
        mail.from,
        Some(Address {
            email: "tomas.ortega@example.com".into(),
            name: Some("Tomás Ortega".into()),
        })
    );
    assert_eq!(mail.date, Some(1_772_524_718));

    let mail = parsed("gb2312.eml");
    assert_eq!(mail.from.unwrap().name.as_deref(), Some("王伟"));
    let mail = parsed("shift-jis.eml");
    assert_eq!(mail.from.unwrap().name.as_deref(), Some("佐藤 花子"));
    let mail = parsed("iso-8859-1.eml");
    assert_eq!(mail.from.unwrap().name.as_deref(), Some("Jürgen Weiß"));

    let mail = parsed("new-message-subject-token.eml");
    assert_eq!(mail.from.unwrap().name.as_deref(), Some("Doe, Jane"));
    let cc: Vec<_> = mail.cc.iter().map(|a| a.email.as_str()).collect();
    assert_eq!(cc, ["accounts@example.net", "billing@example.net"]);
    assert_eq!(mail.to[0].email, "support@support.example.com");
    assert!(mail.full_text.ends_with("Example Corp | +44 20 7946 0000"));

    let mail = parsed("html-only-script.eml");
    assert_eq!(
        mail.reply_to,
        Some(Address {
            email: "lena.fischer@example.de".into(),
            name: Some("Lena Fischer".into()),
        })
    );

    let mail = parsed("outlook-reply.eml");
    assert_eq!(
        mail.thread_index.as_deref(),
        Some("AQHcqv3kV0pYk2mC7UaFq1r9bT3mJrRz4pAw")
    );
    assert!(
        mail.full_text
            .contains("\n________________________________\nFrom: Switchboard Support"),
        "{}",
        mail.full_text
    );

    let mail = parsed("bounce-dsn-failed.eml");
    assert_eq!(
        mail.from.unwrap().name.as_deref(),
        Some("Mail Delivery System")
    );
}

#[test]
fn attachments_carry_their_bytes() {
    let mail = parsed("pdf-rfc2231-filename.eml");
    assert!(mail.attachments[0].bytes.starts_with(b"%PDF-1.4"));
    assert!(mail.attachments[0].bytes.ends_with(b"%%EOF\n"));

    let mail = parsed("inline-image-cid.eml");
    assert!(mail.attachments[0].bytes.starts_with(b"\x89PNG\r\n"));

    let mail = parsed("attached-eml.eml");
    let attached = parse(&mail.attachments[0].bytes).unwrap();
    assert_eq!(attached.subject.as_deref(), Some("Order confirmation 5521"));
    assert_eq!(
        attached.message_id.as_deref(),
        Some("order-5521@shop.example.com")
    );
    assert_eq!(
        attached.text,
        "Thank you for your order 5521.\nTotal: EUR 129.00"
    );

    let mail = parsed("bounce-dsn-delayed.eml");
    let returned = parse(&mail.attachments[1].bytes).unwrap();
    assert_eq!(
        returned.message_id.as_deref(),
        Some("sb.01JNY9W3E5.2hd6rx@support.example.com")
    );
}

#[test]
fn attachment_names_are_decoded_and_made_safe() {
    let raw = concat!(
        "From: a@example.com\r\nSubject: files\r\nMIME-Version: 1.0\r\n",
        "Content-Type: multipart/mixed; boundary=b\r\n\r\n",
        "--b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n",
        "--b\r\nContent-Type: application/pdf\r\n",
        "Content-Disposition: attachment; filename=\"=?UTF-8?B?w5xiZXJzaWNodC5wZGY=?=\"\r\n",
        "\r\n%PDF\r\n",
        "--b\r\nContent-Type: text/plain; charset=iso-8859-1; name=\"../../etc/passwd\"\r\n",
        "Content-Disposition: attachment\r\nContent-Transfer-Encoding: quoted-printable\r\n",
        "\r\nroot=E9\r\n",
        "--b\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n",
        "Content-Disposition: attachment\r\n\r\niVBORw0KGgo=\r\n",
        "--b--\r\n",
    );
    let mail = parse(raw.as_bytes()).unwrap();
    let files = names_and_types(&mail);
    assert_eq!(
        files,
        [
            ("Übersicht.pdf", "application/pdf"),
            ("passwd", "text/plain"),
            ("attachment-3.png", "image/png"),
        ]
    );
    // Text attachments come as UTF-8.
    assert_eq!(&mail.attachments[1].bytes[..], "rooté".as_bytes());
    assert_eq!(mail.text, "See attached.");
}

#[test]
fn bounces_say_what_happened() {
    let MailKind::Bounce(bounce) = parsed("bounce-dsn-failed.eml").kind else {
        panic!("not a bounce");
    };
    assert_eq!(
        bounce,
        Bounce {
            original_message_id: Some(SHIPPED.into()),
            recipient: Some("jane.doe@exmaple.net".into()),
            action: "failed".into(),
            status: Some("5.1.1".into()),
            permanent: true,
            diagnostic: "550 5.1.1 <jane.doe@exmaple.net>: Recipient address rejected: User unknown in virtual mailbox table".into(),
        }
    );

    let MailKind::Bounce(bounce) = parsed("bounce-dsn-delayed.eml").kind else {
        panic!("not a bounce");
    };
    assert_eq!(
        bounce,
        Bounce {
            original_message_id: Some("sb.01JNY9W3E5.2hd6rx@support.example.com".into()),
            recipient: Some("tomas.ortega@example.com".into()),
            action: "delayed".into(),
            status: Some("4.4.7".into()),
            permanent: false,
            diagnostic: "Delivery time expired".into(),
        }
    );
}

fn with_headers(headers: &str) -> ParsedMail {
    let raw = format!(
        "From: Ana <ana@example.com>\r\nTo: support@support.example.com\r\nSubject: Hi\r\n{headers}\r\nHello\r\n"
    );
    parse(raw.as_bytes()).unwrap()
}

#[test]
fn automatic_signs_and_auto_reply_permission() {
    let cases: &[(&str, Option<&str>, bool)] = &[
        ("", None, true),
        ("Auto-Submitted: no\r\n", None, true),
        (
            "Auto-Submitted: auto-generated; owner-email=\"x@y\"\r\n",
            Some("Auto-Submitted: auto-generated"),
            false,
        ),
        ("Precedence: bulk\r\n", Some("Precedence: bulk"), false),
        ("Precedence: junk\r\n", Some("Precedence: junk"), false),
        ("Precedence: first-class\r\n", None, true),
        ("Return-Path: <>\r\n", Some("Return-Path: <>"), false),
        ("Return-Path: <ana@example.com>\r\n", None, true),
        ("X-Autoreply: yes\r\n", Some("X-Autoreply"), false),
        // The sender asks for no auto-reply: still a person, but no acknowledgement.
        ("X-Auto-Response-Suppress: All\r\n", None, false),
        ("X-Auto-Response-Suppress: DR, OOF\r\n", None, false),
        ("X-Auto-Response-Suppress: DR, NDR\r\n", None, true),
    ];
    for (headers, reason, may_auto_reply) in cases {
        let mail = with_headers(headers);
        let got = match &mail.kind {
            MailKind::Automatic { reason } => Some(reason.as_str()),
            _ => None,
        };
        assert_eq!(got, *reason, "{headers}");
        assert_eq!(mail.may_auto_reply, *may_auto_reply, "{headers}");
    }
    for (from, automatic) in [
        ("MAILER-DAEMON@example.com", true),
        ("postmaster@example.com", true),
        ("owner-users@lists.example.org", true),
        ("users-request@lists.example.org", true),
        ("noreply@shop.example.com", false),
    ] {
        let raw = format!("From: {from}\r\nSubject: x\r\n\r\nbody\r\n");
        let kind = parse(raw.as_bytes()).unwrap().kind;
        assert_eq!(
            matches!(kind, MailKind::Automatic { .. }),
            automatic,
            "{from}"
        );
    }
    // Mail through a list is neither a person's nor a machine's until the channel
    // knows whether the list is its own group.
    for (headers, id) in [
        (
            "List-Id: News <news.example.com>\r\n",
            Some("news.example.com"),
        ),
        ("List-Id: news.example.com\r\n", Some("news.example.com")),
        ("Precedence: list\r\n", None),
    ] {
        let mail = with_headers(headers);
        assert_eq!(
            mail.kind,
            MailKind::List {
                id: id.map(str::to_owned)
            },
            "{headers}"
        );
        assert!(!mail.may_auto_reply, "{headers}");
    }
    assert!(!parsed("x-auto-response-suppress-person.eml").may_auto_reply);
    assert!(parsed("gmail-reply.eml").may_auto_reply);
}

#[test]
fn read_receipts_are_automatic_not_bounces() {
    let raw = "From: Ana <ana@example.com>\r\nSubject: Read: Order\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=disposition-notification; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nYour message was read.\r\n--b\r\nContent-Type: message/disposition-notification\r\n\r\nFinal-Recipient: rfc822; ana@example.com\r\nDisposition: manual-action/MDN-sent-manually; displayed\r\n--b--\r\n";
    assert_eq!(
        parse(raw.as_bytes()).unwrap().kind,
        MailKind::Automatic {
            reason: "multipart/report; report-type=disposition-notification".into()
        }
    );
}

#[test]
fn not_an_email() {
    for raw in [
        &b""[..],
        b"  \r\n ",
        b"\x00\x01\x02\xff",
        b"just some words",
        b"key: value\nother: thing\n",
    ] {
        assert!(parse(raw).is_err(), "{:?}", String::from_utf8_lossy(raw));
    }
}

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Nothing but mail-parser's debug assertions (which come back as an error) may
/// panic: `parse_message` is `parse` without its last guard.
fn survives(raw: &[u8], what: impl Fn() -> String) {
    let outcome = std::panic::catch_unwind(|| parse_message(raw));
    assert!(outcome.is_ok(), "panicked on {}", what());
}

/// Bytes that mean something to a MIME parser.
const SPECIAL: &[u8] = b"\r\n\t -=:;<>\"'?%*\\_\x00\xff\x80";

#[test]
fn truncated_and_mutated_corpus_mail_never_panics() {
    let mut rng = Rng(0x5eed_cafe_f00d_d00d);
    for file in corpus_files() {
        let raw = read(&file);
        // Every prefix near the start and the end, a sample of the rest.
        for len in 0..=raw.len() {
            if len < 300 || raw.len() - len < 300 || len % 23 == 0 {
                survives(&raw[..len], || format!("{file} cut at {len}"));
            }
        }
        for round in 0..300 {
            let mut mutated = raw.clone();
            for _ in 0..1 + rng.below(8) {
                let at = rng.below(mutated.len());
                match rng.below(4) {
                    0 => mutated[at] ^= 1 << rng.below(8),
                    1 => mutated[at] = SPECIAL[rng.below(SPECIAL.len())],
                    2 => mutated.insert(at, SPECIAL[rng.below(SPECIAL.len())]),
                    _ => {
                        mutated.remove(at);
                    }
                }
            }
            survives(&mutated, || format!("{file}, mutation {round}"));
        }
    }
}

/// Display names that decode (RFC 2047) to address syntax stay names: the address is
/// the one the From field's syntax gives, never text found in a decoded name.
#[test]
fn encoded_display_names_never_become_the_address() {
    #[rustfmt::skip]
    let cases: &[(&str, Option<(&str, &str)>)] = &[
        // "Ana <ceo@example.com>," before the real address.
        ("=?UTF-8?B?QW5hIDxjZW9AZXhhbXBsZS5jb20+LA==?= <attacker@evil.org>", Some(("attacker@evil.org", "Ana <ceo@example.com>,"))),
        ("=?utf-8?q?Ana_=3Cceo=40example=2Ecom=3E=2C?= <attacker@evil.org>", Some(("attacker@evil.org", "Ana <ceo@example.com>,"))),
        ("\"=?UTF-8?B?QW5hIDxjZW9AZXhhbXBsZS5jb20+LA==?=\" <attacker@evil.org>", Some(("attacker@evil.org", "Ana <ceo@example.com>,"))),
        ("=?UTF-8?B?QW5hIDxjZW9AZXhhbXBsZS5jb20+LA==?=<attacker@evil.org>", Some(("attacker@evil.org", "Ana <ceo@example.com>,"))),
        ("attacker@evil.org (=?UTF-8?B?QW5hIDxjZW9AZXhhbXBsZS5jb20+LA==?=)", Some(("attacker@evil.org", "Ana <ceo@example.com>,"))),
        // "<victim@example.com>" as the whole name.
        ("=?UTF-8?B?PHZpY3RpbUBleGFtcGxlLmNvbT4=?= <attacker@evil.org>", Some(("attacker@evil.org", "<victim@example.com>"))),
        ("=?UTF-8?B?PHZpY3RpbUBleGFtcGxlLmNvbT4=?= attacker@evil.org", Some(("attacker@evil.org", "<victim@example.com>"))),
        // Markup as the name.
        ("=?UTF-8?B?PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==?= eve@example.org", Some(("eve@example.org", "<script>alert(1)</script>"))),
        ("=?UTF-8?B?PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==?= <eve@example.org>", Some(("eve@example.org", "<script>alert(1)</script>"))),
        // A name and no address at all: no From address (the connector then files
        // the mail under Sender or Return-Path).
        ("=?UTF-8?B?PHZpY3RpbUBleGFtcGxlLmNvbT4=?=", None),
    ];
    for (from, expected) in cases {
        let raw = format!(
            "From: {from}\r\nTo: support@example.com\r\nSubject: Hi\r\nMessage-ID: <x@y>\r\n\r\nHello\r\n"
        );
        let got = parse(raw.as_bytes()).unwrap().from;
        let got = got
            .as_ref()
            .map(|a| (a.email.as_str(), a.name.as_deref().unwrap_or("")));
        assert_eq!(got, *expected, "From: {from}");
    }
}

#[test]
fn a_content_type_that_is_no_media_type_keeps_the_file_as_binary() {
    // Found by fuzzing (fuzz/corpus/mime/regression-broken-content-type.eml): the core
    // refuses such a type, and with it the poller's batch, on every retry.
    let raw = concat!(
        "From: a@example.com\r\nSubject: files\r\nMIME-Version: 1.0\r\n",
        "Content-Type: multipart/mixed; boundary=b\r\n\r\n",
        "--b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n",
        "--b\r\nContent-Type: application/pduchhaltung@example.de>\r\n",
        "Content-Disposition: attachment; filename=invoice.pdf\r\n\r\n%PDF\r\n",
        "--b\r\nContent-Type: image/p\u{e4}ng\r\nContent-Disposition: attachment\r\n\r\nx\r\n",
        "--b--\r\n",
    );
    let mail = parse(raw.as_bytes()).unwrap();
    let files = names_and_types(&mail);
    assert_eq!(
        files,
        [
            ("invoice.pdf", "application/octet-stream"),
            ("attachment-2.bin", "application/octet-stream"),
        ]
    );
}

#[test]
fn message_ids_holding_a_control_character_are_left_out() {
    // Found by fuzzing (fuzz/corpus/mime/regression-nul-in-reply-to.eml): the core
    // refuses such an id, and with it the poller's batch, on every retry.
    let mail = with_headers(concat!(
        "Message-ID: <a\u{1}b@example.com>\r\n",
        "In-Reply-To: <sb.1@support.example\0\0.com>\r\n",
        "References: <root@example.com> <bell\u{7}@example.com> <sb.1@support.example.com>\r\n",
    ));
    assert_eq!(mail.message_id, None);
    assert!(mail.in_reply_to.is_empty());
    assert_eq!(
        mail.references,
        ["root@example.com", "sb.1@support.example.com"]
    );
}

#[test]
fn addresses_holding_a_control_character_are_no_addresses() {
    // Found by fuzzing (fuzz/corpus/mime/regression-control-in-return-path.eml): the
    // core refuses such an address as the sender and the conversation.
    let mail = with_headers("Return-Path: <hanako.sato@exampl\u{1}\0e.jp>\r\n");
    assert_eq!(mail.sender, None);
    let raw = "From: \"Ana\0 Lima\" <ana@example.com>\r\nTo: support@support.example.com\r\n\
        Cc: Bruno <bru\u{1}no@example.com>, Carla <carla@example.com>\r\nSubject: Hi\r\n\r\nHello\r\n";
    let mail = parse(raw.as_bytes()).unwrap();
    assert_eq!(mail.from.unwrap().name.as_deref(), Some("Ana Lima"));
    let cc: Vec<_> = mail.cc.iter().map(|a| a.email.as_str()).collect();
    assert_eq!(cc, ["carla@example.com"]);
}

#[test]
fn a_thread_index_is_kept_only_when_it_is_printable_ascii() {
    let index = "AQHcqv3hYk2mC7UaFq1r9bT3mJrRz4pAw";
    let mail = with_headers(&format!(
        "Thread-Index: {}\r\n {}\r\n",
        &index[..10],
        &index[10..]
    ));
    assert_eq!(mail.thread_index.as_deref(), Some(index));
    // Found by fuzzing (fuzz/corpus/mime/regression-nul-in-thread-index.eml): the
    // conversation key is cut from it, and the core refuses a control character.
    assert_eq!(
        with_headers("Thread-Index: AQHcqv3\0\0\0FYk2mC7UaFq1r9bT3mJrRz4pAw\r\n").thread_index,
        None
    );
    // The key is its first 28 bytes: a multi-byte character there must not panic.
    let wide = format!(
        "Message-ID: <m@example.com>\r\nThread-Index: {}\u{e9}{}\r\n",
        "A".repeat(27),
        "B".repeat(8)
    );
    let mail = with_headers(&wide);
    assert_eq!(mail.thread_index, None);
    assert_eq!(crate::thread_root(&mail), "m@example.com");
}

#[test]
fn the_sender_is_the_sender_field_else_the_return_path() {
    let mail =
        with_headers("Sender: Desk <desk@example.com>\r\nReturn-Path: <bounces@example.com>");
    assert_eq!(mail.sender.unwrap().email, "desk@example.com");
    let mail = with_headers("Return-Path: <Bounces+Ana@Example.com>");
    assert_eq!(mail.sender.unwrap().email, "bounces+ana@example.com");
    assert_eq!(with_headers("Return-Path: <>").sender, None);
    assert_eq!(with_headers("").sender, None);
}

/// Each attachment's file name and media type, in order.
fn names_and_types(mail: &ParsedMail) -> Vec<(&str, &str)> {
    mail.attachments
        .iter()
        .map(|a| (a.filename.as_str(), a.content_type.as_str()))
        .collect()
}
