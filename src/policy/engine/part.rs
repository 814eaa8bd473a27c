//! What rules match against: one command (after its wrappers are peeled) or one whole text.

/// Declares the facts table once: the enum, its kebab-case names and the list of all facts.
macro_rules! facts {
    ($($(#[$doc:meta])* $variant:ident => $name:literal,)*) => {
        /// Something the engine derived about a text or a command that a regex cannot see.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum Fact { $($(#[$doc])* $variant,)* }

        impl Fact {
            /// Every fact, in declaration order.
            pub(crate) const ALL: &'static [Fact] = &[$(Fact::$variant,)*];

            /// The name rules use in `facts = [..]`.
            pub(crate) fn name(self) -> &'static str {
                match self { $(Fact::$variant => $name,)* }
            }
        }
    };
}

facts! {
    /// The shell parser rejected the text.
    Unparseable => "unparseable",
    /// The text nests deeper than the engine is willing to follow.
    TooDeep => "too-deep",
    /// The text was produced by decoding a literal (base64, hex, escapes, `-EncodedCommand`).
    Decoded => "decoded",
    /// The text is written somewhere that runs it later (cron, systemd, rc files, `at`).
    Persisted => "persisted",
    /// The text is fed to an interpreter on its standard input.
    PipedScript => "piped-script",
    /// The command name is a variable or a substitution whose value is not known.
    DynamicProgram => "dynamic-program",
    /// A word is split with `$IFS`.
    Ifs => "ifs",
    /// The command name is spelled with quotes (`r''m`, `"r"m`).
    QuotedProgram => "quoted-program",
    /// A function that pipes or backgrounds calls to itself.
    ForkBomb => "fork-bomb",
    /// A URL to a host other than this machine.
    ExternalUrl => "external-url",
    /// A URL whose host is a literal IP address other than loopback.
    RawIpUrl => "raw-ip-url",
    /// A long base64-looking literal (not plain hex, which digests use).
    LongBase64 => "long-base64",
    /// The text came from a string a script passes to the system shell.
    FromScript => "from-script",
}

impl Fact {
    /// The fact named `name`, if there is one.
    pub(crate) fn from_name(name: &str) -> Option<Fact> {
        Fact::ALL.iter().copied().find(|f| f.name() == name)
    }

    fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

/// A set of facts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Facts(u32);

impl Facts {
    pub(crate) fn add(&mut self, fact: Fact) {
        self.0 |= fact.bit();
    }
    pub(crate) fn has(self, fact: Fact) -> bool {
        self.0 & fact.bit() != 0
    }
    pub(crate) fn contains_all(self, other: Facts) -> bool {
        self.0 & other.0 == other.0
    }
    pub(crate) fn union(self, other: Facts) -> Facts {
        Facts(self.0 | other.0)
    }
}

/// Declares the languages table once.
macro_rules! langs {
    ($($variant:ident => $name:literal,)*) => {
        /// The language a text is written in.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum Lang { $($variant,)* }

        impl Lang {
            /// Every language, in declaration order.
            pub(crate) const ALL: &'static [Lang] = &[$(Lang::$variant,)*];

            /// The name rules use in `language = [..]`.
            pub(crate) fn name(self) -> &'static str {
                match self { $(Lang::$variant => $name,)* }
            }
        }
    };
}

langs! {
    Shell => "shell",
    PowerShell => "powershell",
    Python => "python",
    Perl => "perl",
    Ruby => "ruby",
    Node => "node",
    Php => "php",
    Awk => "awk",
    Lua => "lua",
}

impl Lang {
    /// The language named `name`, if there is one.
    pub(crate) fn from_name(name: &str) -> Option<Lang> {
        Lang::ALL.iter().copied().find(|l| l.name() == name)
    }
}

/// Whether a part is one command or a whole text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PartKind {
    Command,
    Text,
}

/// One thing the rules are matched against.
#[derive(Debug, Clone)]
pub(crate) struct Part {
    pub kind: PartKind,
    /// The language of the text this part comes from.
    pub lang: Lang,
    /// A shell text that is also read as PowerShell (a Windows command line).
    pub also_powershell: bool,
    /// A PowerShell / Windows command line (case-insensitive, `/x` and `-Param` flags).
    pub windows: bool,
    /// The normalized program name (`/usr/bin/rm` → `rm`); empty for texts.
    pub program: String,
    /// The normalized arguments (quotes removed, known values substituted).
    pub args: Vec<String>,
    /// `args` joined by single spaces.
    pub joined: String,
    /// Redirections as `"<op> <target>"`, e.g. `"> /dev/sda"`.
    pub redirects: Vec<String>,
    /// Programs this part's output reaches.
    pub piped_to: Vec<String>,
    /// Programs whose output reaches this part.
    pub piped_from: Vec<String>,
    /// The source text of the command (or the whole text).
    pub text: String,
    pub facts: Facts,
}

impl Part {
    /// A whole-text part.
    pub(crate) fn text(text: &str, lang: Lang, facts: Facts) -> Part {
        Part {
            kind: PartKind::Text,
            lang,
            also_powershell: false,
            windows: lang == Lang::PowerShell,
            program: String::new(),
            args: Vec::new(),
            joined: String::new(),
            redirects: Vec::new(),
            piped_to: Vec::new(),
            piped_from: Vec::new(),
            text: text.to_string(),
            facts,
        }
    }
}
