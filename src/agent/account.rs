//! Local accounts from `/etc/passwd`. The release binary is statically linked, so NSS
//! (`getpwnam`) is not available: the file is the source of truth for `run_as`.

use std::path::{Path, PathBuf};

/// The account database this agent reads.
pub const PASSWD: &str = "/etc/passwd";

/// One `/etc/passwd` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The login name.
    pub name: String,
    /// Its uid.
    pub uid: u32,
    /// Its primary gid.
    pub gid: u32,
    /// Its home directory as listed (it may not exist).
    pub home: PathBuf,
}

/// The entry for `name` in the passwd text `text`.
pub fn by_name(text: &str, name: &str) -> Option<Account> {
    entries(text).find(|a| a.name == name)
}

/// The first entry for `uid` in the passwd text `text`.
pub fn by_uid(text: &str, uid: u32) -> Option<Account> {
    entries(text).find(|a| a.uid == uid)
}

/// Reads [`PASSWD`] (a few KiB: callers run it off the async runtime's thread).
pub fn read_passwd() -> std::io::Result<String> {
    std::fs::read_to_string(Path::new(PASSWD))
}

fn entries(text: &str) -> impl Iterator<Item = Account> + '_ {
    text.lines().filter_map(|line| {
        // name:password:uid:gid:gecos:home:shell
        let mut f = line.split(':');
        let name = f.next()?.to_string();
        let _password = f.next()?;
        let uid = f.next()?.parse().ok()?;
        let gid = f.next()?.parse().ok()?;
        let _gecos = f.next()?;
        let home = PathBuf::from(f.next()?);
        (!name.is_empty() && !name.starts_with('#')).then_some(Account {
            name,
            uid,
            gid,
            home,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "root:x:0:0:root:/root:/bin/bash\n\
                        # a comment\n\
                        broken line\n\
                        nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";

    #[test]
    fn finds_entries_by_name_and_uid_and_skips_junk() {
        let nobody = by_name(TEXT, "nobody").unwrap();
        assert_eq!((nobody.uid, nobody.gid), (65534, 65534));
        assert_eq!(nobody.home, PathBuf::from("/nonexistent"));
        assert_eq!(by_uid(TEXT, 0).unwrap().name, "root");
        assert_eq!(by_name(TEXT, "broken line"), None);
        assert_eq!(by_uid(TEXT, 1000), None);
    }
}
