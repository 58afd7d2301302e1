//! Tokenizer and recursive-descent parser for the filter language.
//!
//! ```text
//! filter  := or
//! or      := and { ("or" | "||" | "|") and }
//! and     := unary { [ "and" | "&&" | "&" ] unary }        adjacent conditions are and-ed, as in ss,
//!                                                          but adjacent state and exclude words make
//!                                                          one set of states, as ss builds its mask
//! unary   := ("not" | "!") unary | "(" or ")" | cond
//! cond    := ("dst" | "src") [ "=" | "==" | "eq" ] HOST
//!          | ("dport" | "sport") [ OP ] PORT                  no OP means "="
//!          | "state" NAME
//!          | ("exclude" | "excl") NAME                        the same as: not state NAME
//!          | "dev" [ "=" | "==" | "eq" | "!=" | "ne" | "neq" ] IFACE
//!          | "autobound"
//! OP      := "=" | "==" | "!=" | "<" | "<=" | ">" | ">=" | eq | ne | neq | lt | le | leq | gt | ge | geq
//! NAME    := a state (time-wait, TIME_WAIT, estab, ...) or an ss group: all connected synchronized bucket big
//! HOST    := "*" | [ "*" ] ":" PORT | ADDR[/LEN][:PORT] | "[" ADDR[/LEN] "]" [ "/" LEN ] [ ":" PORT ]
//!          | HOSTNAME[:PORT]
//! PORT    := [ ":" ] (0..65535 | SERVICE)        ("*" for any port in HOST)
//! IFACE   := an interface name (lo, eth0) or index
//! ```
//!
//! Words are separated by blanks; parentheses and the operator characters `= ! < > & |` also end a
//! word, so `(dport>=80)` reads like `( dport >= 80 )`. Keywords are case-insensitive. A bare IPv6
//! address (`dst ::1`, `src fe80::/10`) is taken whole; with a port it needs brackets: `[::1]:443`.
//! Nesting deeper than [`MAX_DEPTH`] is refused, so no input can exhaust the stack.
//!
//! Names are looked up once, here, through [`Names`]: a SERVICE in `/etc/services`, a HOSTNAME (a
//! word with a letter that is not an address) to every address it has, which the filter joins with
//! `or`; an IFACE to its index, or a number taken as the index, as ss does.

use super::names::{Names, System};
use super::{Cond, Expr, FilterError, PortOp, Prefix, Side, StateSet};
use crate::socket::TcpState;
use std::net::IpAddr;

/// Deepest nesting of parentheses and `not` accepted.
const MAX_DEPTH: usize = 100;

/// Parses a whole filter, looking names up on this host.
pub(super) fn parse(text: &str) -> Result<Expr, FilterError> {
    parse_with(text, &mut System::default())
}

/// Parses a whole filter, looking names up in the fixed set of [`Fixed`] instead of the host's: what
/// the fuzz targets parse with, so that no input reaches the resolver.
///
/// [`Fixed`]: super::names::Fixed
#[cfg(fuzzing)]
pub(super) fn parse_offline(text: &str) -> Result<Expr, FilterError> {
    parse_with(text, &mut super::names::Fixed)
}

/// Parses a whole filter, looking names up in `names`.
fn parse_with(text: &str, names: &mut dyn Names) -> Result<Expr, FilterError> {
    let tokens = tokenize(text);
    if tokens.is_empty() {
        return Err(FilterError {
            word: String::new(),
            message: "empty filter".into(),
            offset: 0,
        });
    }
    let mut parser = Parser {
        text,
        tokens,
        pos: 0,
        depth: 0,
        names,
    };
    let expr = parser.or()?;
    match parser.peek() {
        None => Ok(expr),
        Some(t) if t.kind == Kind::RParen => {
            Err(parser.error(t, "unbalanced parenthesis: no matching '('"))
        }
        Some(t) => Err(parser.error(t, "expected 'and', 'or' or the end of the filter")),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Word,
    LParen,
    RParen,
    /// An operator: `=`, `!=`, `>=`, `&&`, `!`...
    Op,
}

#[derive(Clone, Copy, Debug)]
struct Token<'a> {
    text: &'a str,
    offset: usize,
    kind: Kind,
}

fn is_op_char(c: char) -> bool {
    matches!(c, '=' | '!' | '<' | '>' | '&' | '|')
}

/// Operators of two characters; any other operator character stands alone.
const TWO_CHAR_OPS: [&str; 6] = ["==", "!=", "<=", ">=", "&&", "||"];

fn tokenize(text: &str) -> Vec<Token<'_>> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        let (kind, end) = match c {
            c if c.is_whitespace() => continue,
            '(' => (Kind::LParen, start + 1),
            ')' => (Kind::RParen, start + 1),
            c if is_op_char(c) => match text.get(start..start + 2) {
                Some(two) if TWO_CHAR_OPS.contains(&two) => {
                    chars.next();
                    (Kind::Op, start + 2)
                }
                _ => (Kind::Op, start + 1),
            },
            c => {
                let mut end = start + c.len_utf8();
                while let Some(&(at, next)) = chars.peek() {
                    if next.is_whitespace() || is_op_char(next) || next == '(' || next == ')' {
                        break;
                    }
                    end = at + next.len_utf8();
                    chars.next();
                }
                (Kind::Word, end)
            }
        };
        tokens.push(Token {
            text: &text[start..end],
            offset: start,
            kind,
        });
    }
    tokens
}

/// What a token means to the parser.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Meaning {
    And,
    Or,
    Not,
    Host(Side),
    Port(Side),
    State,
    Exclude,
    Dev,
    Autobound,
    Cmp(PortOp),
    Other,
}

fn meaning(token: &Token<'_>) -> Meaning {
    let word = token.text.to_ascii_lowercase();
    match word.as_str() {
        "and" | "&&" | "&" => Meaning::And,
        "or" | "||" | "|" => Meaning::Or,
        "not" | "!" => Meaning::Not,
        "dst" => Meaning::Host(Side::Remote),
        "src" => Meaning::Host(Side::Local),
        "dport" => Meaning::Port(Side::Remote),
        "sport" => Meaning::Port(Side::Local),
        "state" => Meaning::State,
        "exclude" | "excl" => Meaning::Exclude,
        "dev" => Meaning::Dev,
        "autobound" => Meaning::Autobound,
        "=" | "==" | "eq" => Meaning::Cmp(PortOp::Eq),
        "!=" | "ne" | "neq" => Meaning::Cmp(PortOp::Ne),
        "<" | "lt" => Meaning::Cmp(PortOp::Lt),
        "<=" | "le" | "leq" => Meaning::Cmp(PortOp::Le),
        ">" | "gt" => Meaning::Cmp(PortOp::Gt),
        ">=" | "ge" | "geq" => Meaning::Cmp(PortOp::Ge),
        _ => Meaning::Other,
    }
}

struct Parser<'a> {
    text: &'a str,
    tokens: Vec<Token<'a>>,
    pos: usize,
    depth: usize,
    names: &'a mut dyn Names,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<Token<'a>> {
        self.tokens.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<Token<'a>> {
        let token = self.peek();
        self.pos += usize::from(token.is_some());
        token
    }

    fn error(&self, token: Token<'_>, message: &str) -> FilterError {
        FilterError {
            word: token.text.to_string(),
            message: message.to_string(),
            offset: token.offset,
        }
    }

    /// The next token, which must exist: `after` is the token that needs it.
    fn operand(&mut self, after: Token<'_>, what: &str) -> Result<Token<'a>, FilterError> {
        self.next().ok_or_else(|| FilterError {
            word: after.text.to_string(),
            message: format!("missing {what} after '{}'", after.text),
            offset: after.offset,
        })
    }

    fn or(&mut self) -> Result<Expr, FilterError> {
        let mut items = vec![self.and()?];
        while let Some(t) = self.peek().filter(|t| meaning(t) == Meaning::Or) {
            self.next();
            if self.peek().is_none() {
                return Err(self.error(t, "missing condition after 'or'"));
            }
            items.push(self.and()?);
        }
        Ok(join(items, Expr::Or))
    }

    fn and(&mut self) -> Result<Expr, FilterError> {
        let mut items = vec![self.states_or_unary()?];
        while let Some(t) = self.peek() {
            if meaning(&t) == Meaning::And {
                self.next();
                if self.peek().is_none() {
                    return Err(self.error(t, "missing condition after 'and'"));
                }
            } else if !starts_condition(&t) {
                break;
            }
            items.push(self.states_or_unary()?);
        }
        Ok(join(items, Expr::And))
    }

    /// A run of `state` and `exclude` words side by side, read as ss reads its state words: one set
    /// of states, built left to right from none (when the run opens with `state`) or from all (when
    /// it opens with `exclude`), each `state` adding its states and each `exclude` removing its
    /// own. So `state established state time-wait` is either state. Anything else is one `unary`.
    fn states_or_unary(&mut self) -> Result<Expr, FilterError> {
        let is_state_word = |t: &Token<'_>| matches!(meaning(t), Meaning::State | Meaning::Exclude);
        let mut run: Vec<(bool, StateSet)> = Vec::new();
        while let Some(t) = self.peek().filter(is_state_word) {
            self.next();
            run.push((meaning(&t) == Meaning::State, self.state(t)?));
        }
        match run.as_slice() {
            [] => self.unary(),
            _ if run.iter().all(|(adds, _)| *adds) => {
                let sets = run.into_iter().map(|(_, set)| Expr::State(set));
                Ok(join(sets.collect(), Expr::Or))
            }
            _ if run.iter().all(|(adds, _)| !*adds) => {
                let not = |(_, set)| Expr::Not(Box::new(Expr::State(set)));
                Ok(join(run.into_iter().map(not).collect(), Expr::And))
            }
            [(adds, _), ..] => {
                let all = all_states().bits();
                let start = if *adds { 0 } else { all };
                let mask = run.iter().fold(start, |mask, (adds, set)| match adds {
                    true => mask | set.bits(),
                    false => mask & !set.bits(),
                });
                Ok(states_expr(mask))
            }
        }
    }

    fn unary(&mut self) -> Result<Expr, FilterError> {
        let Some(t) = self.next() else {
            // Callers check that a token follows before descending; stay total all the same.
            return Err(FilterError {
                word: String::new(),
                message: "missing condition at the end".into(),
                offset: self.text.len(),
            });
        };
        match (t.kind, meaning(&t)) {
            (Kind::LParen, _) => {
                if self.peek().is_none() {
                    return Err(self.error(t, "unbalanced parenthesis: no matching ')'"));
                }
                let inner = self.nested(t, Parser::or)?;
                match self.next() {
                    Some(close) if close.kind == Kind::RParen => Ok(inner),
                    Some(other) => Err(self.error(other, "expected ')' or 'and'/'or'")),
                    None => Err(self.error(t, "unbalanced parenthesis: no matching ')'")),
                }
            }
            (Kind::RParen, _) => Err(self.error(t, "expected a condition before ')'")),
            (_, Meaning::Not) => {
                if self.peek().is_none() {
                    return Err(self.error(t, "missing condition after 'not'"));
                }
                let inner = self.nested(t, Parser::unary)?;
                Ok(Expr::Not(Box::new(inner)))
            }
            (_, Meaning::Host(side)) => self.host(t, side),
            (_, Meaning::Port(side)) => self.port(t, side),
            (_, Meaning::State) => self.state(t).map(Expr::State),
            (_, Meaning::Exclude) => Ok(Expr::Not(Box::new(Expr::State(self.state(t)?)))),
            (_, Meaning::Dev) => self.dev(t),
            (_, Meaning::Autobound) => Ok(Expr::Cond(Cond::Autobound)),
            (_, Meaning::And | Meaning::Or) => {
                Err(self.error(t, &format!("expected a condition before '{}'", t.text)))
            }
            (_, Meaning::Cmp(_)) => {
                Err(self.error(t, "operator without 'dport' or 'sport' before it"))
            }
            (_, Meaning::Other) => Err(self.error(
                t,
                "unknown word (expected dst, src, dport, sport, state, exclude, dev, autobound, not or '(')",
            )),
        }
    }

    /// Runs `inner` one nesting level deeper, refusing to go past [`MAX_DEPTH`].
    fn nested(
        &mut self,
        opener: Token<'_>,
        inner: fn(&mut Parser<'a>) -> Result<Expr, FilterError>,
    ) -> Result<Expr, FilterError> {
        if self.depth >= MAX_DEPTH {
            return Err(self.error(opener, &format!("nested more than {MAX_DEPTH} deep")));
        }
        self.depth += 1;
        let result = inner(self);
        self.depth -= 1;
        result
    }

    fn host(&mut self, keyword: Token<'_>, side: Side) -> Result<Expr, FilterError> {
        let mut value = self.operand(keyword, "address")?;
        if let Meaning::Cmp(op) = meaning(&value) {
            if op != PortOp::Eq {
                return Err(self.error(
                    value,
                    &format!(
                        "'{}' takes an address, not a comparison (compare ports with dport/sport)",
                        keyword.text
                    ),
                ));
            }
            value = self.operand(value, "address")?;
        }
        if value.kind != Kind::Word || meaning(&value) != Meaning::Other {
            return Err(self.error(
                value,
                &format!("expected an address after '{}'", keyword.text),
            ));
        }
        let (prefixes, port) =
            parse_host(value.text, self.names).map_err(|message| self.error(value, &message))?;
        let host = |prefix| Expr::Cond(Cond::Host { side, prefix, port });
        Ok(match prefixes {
            None => host(None),
            Some(list) => join(list.into_iter().map(|p| host(Some(p))).collect(), Expr::Or),
        })
    }

    fn port(&mut self, keyword: Token<'_>, side: Side) -> Result<Expr, FilterError> {
        let mut value = self.operand(keyword, "port")?;
        let mut op = PortOp::Eq;
        if let Meaning::Cmp(given) = meaning(&value) {
            op = given;
            value = self.operand(value, "port")?;
        }
        if value.kind != Kind::Word || meaning(&value) != Meaning::Other {
            return Err(self.error(
                value,
                &format!("expected a port number after '{}'", keyword.text),
            ));
        }
        let digits = value.text.strip_prefix(':').unwrap_or(value.text);
        let port = parse_port(digits, self.names).map_err(|message| self.error(value, &message))?;
        Ok(Expr::Cond(Cond::Port { side, op, port }))
    }

    /// The state or group named after `state` or `exclude`.
    fn state(&mut self, keyword: Token<'_>) -> Result<StateSet, FilterError> {
        let name = self.operand(keyword, "state name")?;
        parse_state(name.text).ok_or_else(|| self.error(name, &unknown_state()))
    }

    /// `dev [=|!=] IFACE`.
    fn dev(&mut self, keyword: Token<'_>) -> Result<Expr, FilterError> {
        let mut value = self.operand(keyword, "interface")?;
        let mut negated = false;
        if let Meaning::Cmp(op) = meaning(&value) {
            negated = match op {
                PortOp::Eq => false,
                PortOp::Ne => true,
                _ => {
                    return Err(self.error(value, "'dev' takes '=' or '!=' and an interface"));
                }
            };
            value = self.operand(value, "interface")?;
        }
        if value.kind != Kind::Word || meaning(&value) != Meaning::Other {
            return Err(self.error(value, "expected an interface name after 'dev'"));
        }
        let ifindex = match self.names.interface(value.text) {
            Ok(index) => index,
            Err(message) => value
                .text
                .parse()
                .map_err(|_| self.error(value, &message))?,
        };
        let cond = Expr::Cond(Cond::Dev { ifindex });
        Ok(if negated {
            Expr::Not(Box::new(cond))
        } else {
            cond
        })
    }
}

/// True for a token that can start a condition, so that adjacent conditions are and-ed.
fn starts_condition(token: &Token<'_>) -> bool {
    token.kind == Kind::LParen
        || matches!(
            meaning(token),
            Meaning::Not
                | Meaning::Host(_)
                | Meaning::Port(_)
                | Meaning::State
                | Meaning::Exclude
                | Meaning::Dev
                | Meaning::Autobound
        )
}

fn join(mut items: Vec<Expr>, make: fn(Vec<Expr>) -> Expr) -> Expr {
    match items.len() {
        1 => items.remove(0),
        _ => make(items),
    }
}

/// The message for an unknown state name, listing the names `state` takes.
fn unknown_state() -> String {
    let words: Vec<&str> = TcpState::ALL
        .iter()
        .filter(|s| **s != TcpState::NewSynRecv)
        .map(|s| s.word())
        .collect();
    format!(
        "unknown state (try {}, or a group: all, connected, synchronized, bucket, big)",
        words.join(", ")
    )
}

/// Every state (the `all` group).
fn all_states() -> StateSet {
    StateSet {
        bits: bits(&TcpState::ALL),
        name: "all",
    }
}

/// The condition that a socket's state is in `mask`: the group or state with exactly these bits
/// (or `not` the one with the others), else the shorter of each of its states or-ed and `not` each
/// of the others and-ed; no state at all is `not state all`.
fn states_expr(mask: u32) -> Expr {
    let all = all_states().bits();
    let not = |set| Expr::Not(Box::new(Expr::State(set)));
    let names = ["all", "connected", "synchronized", "bucket", "big"];
    let states = (TcpState::ALL.iter())
        .filter(|s| **s != TcpState::NewSynRecv)
        .map(|s| s.word());
    let sets: Vec<StateSet> = names
        .into_iter()
        .chain(states)
        .filter_map(parse_state)
        .collect();
    if let Some(set) = sets.iter().find(|s| s.bits() == mask) {
        return Expr::State(*set);
    }
    if let Some(set) = sets.iter().find(|s| s.bits() == all & !mask) {
        return not(*set);
    }
    let singles = sets.into_iter().skip(names.len());
    let (inside, outside): (Vec<StateSet>, Vec<StateSet>) =
        singles.partition(|s| s.bits() & mask == s.bits());
    if inside.len() <= outside.len() {
        join(inside.into_iter().map(Expr::State).collect(), Expr::Or)
    } else {
        join(outside.into_iter().map(not).collect(), Expr::And)
    }
}

fn bits(states: &[TcpState]) -> u32 {
    states.iter().fold(0, |acc, s| acc | s.mask_bit())
}

/// Parses a state name or an ss state group. The groups are ss's: `connected` is every state but
/// LISTEN and CLOSE, `synchronized` that without SYN_SENT, `bucket` the minisockets (SYN_RECV and
/// TIME_WAIT), `big` every state but those. SYN_RECV and NEW_SYN_RECV are one state here: the kernel
/// reports request sockets (NEW_SYN_RECV) as SYN_RECV and dumps them for either bit, so a record
/// cannot tell them apart. Two differences with ss's masks follow: ss's `big` keeps the NEW_SYN_RECV
/// bit and so lists request sockets, which portradar counts as the minisockets they are; and ss 6.8
/// and later, whose groups are masks that exclude states, also list bound-inactive sockets (kernel
/// state CLOSE) under `connected` and `synchronized`, which portradar leaves out as CLOSE sockets.
pub(super) fn parse_state(name: &str) -> Option<StateSet> {
    use TcpState::*;
    let all = bits(&TcpState::ALL);
    let unconnected = bits(&[Listen, Close, BoundInactive]);
    let bucket = bits(&[SynRecv, NewSynRecv, TimeWait]);
    let group = |name, bits| Some(StateSet { bits, name });
    match name.to_ascii_lowercase().as_str() {
        "all" => group("all", all),
        "connected" => group("connected", all & !unconnected),
        "synchronized" => group("synchronized", all & !unconnected & !SynSent.mask_bit()),
        "bucket" => group("bucket", bucket),
        "big" => group("big", all & !bucket),
        _ => match TcpState::parse(name)? {
            SynRecv | NewSynRecv => group(SynRecv.word(), bits(&[SynRecv, NewSynRecv])),
            state => group(state.word(), state.mask_bit()),
        },
    }
}

/// Parses a port: a number, 0 to 65535, or a service name.
fn parse_port(text: &str, names: &mut dyn Names) -> Result<u16, String> {
    if text.is_empty() {
        return Err("missing port number".into());
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return names.service(text);
    }
    text.parse()
        .map_err(|_| "port out of range (0-65535)".into())
}

/// The addresses a host operand stands for (`None`: any address), and its port.
type Host = (Option<Vec<Prefix>>, Option<u16>);

/// Parses `dst`/`src`'s operand into the prefixes it means and an optional port.
fn parse_host(text: &str, names: &mut dyn Names) -> Result<Host, String> {
    let mut port = |p: &str| match p {
        "*" => Ok(None),
        p => parse_port(p, names).map(Some),
    };
    if text == "*" {
        return Ok((None, None));
    }
    let port_only = text
        .strip_prefix("*:")
        .or_else(|| text.strip_prefix(':').filter(|rest| !rest.contains(':')));
    if let Some(rest) = port_only {
        return Ok((None, port(rest)?));
    }
    if let Some(rest) = text.strip_prefix('[') {
        let (inside, after) = rest
            .split_once(']')
            .ok_or("missing ']' after an IPv6 address")?;
        let (len, after) = match after.strip_prefix('/') {
            Some(tail) => match tail.split_once(':') {
                Some((len, port_text)) => (Some(len), Some(port_text)),
                None => (Some(tail), None),
            },
            None => match after {
                "" => (None, None),
                _ => (
                    None,
                    Some(
                        after
                            .strip_prefix(':')
                            .ok_or("expected ':PORT' after ']'")?,
                    ),
                ),
            },
        };
        let prefix = match (inside.split_once('/'), len) {
            (Some(_), Some(_)) => return Err("prefix length given twice".into()),
            (Some((addr, len)), None) => parse_prefix(addr, Some(len))?,
            (None, len) => parse_prefix(inside, len)?,
        };
        return Ok((Some(vec![prefix]), after.map(port).transpose()?.flatten()));
    }
    if text.matches(':').count() > 1 {
        // A bare IPv6 address or prefix: no port without brackets.
        let (addr, len) = match text.split_once('/') {
            Some((addr, len)) => (addr, Some(len)),
            None => (text, None),
        };
        return Ok((Some(vec![parse_prefix(addr, len)?]), None));
    }
    let (addr_part, port_part) = match text.split_once(':') {
        Some((addr, p)) => (addr, Some(p)),
        None => (text, None),
    };
    let port = port_part.map(port).transpose()?.flatten();
    let prefixes = match addr_part.split_once('/') {
        Some((addr, len)) => vec![parse_prefix(addr, Some(len))?],
        None if addr_part.parse::<IpAddr>().is_err() && is_host_name(addr_part) => names
            .host(addr_part)?
            .into_iter()
            .map(|addr| Prefix {
                addr,
                len: max_len(addr),
            })
            .collect(),
        None => vec![parse_prefix(addr_part, None)?],
    };
    Ok((Some(prefixes), port))
}

/// A word that can only be a host name: letters, digits, `-`, `_` and `.`, with at least one letter
/// (so that `10.0.0` stays a malformed address).
fn is_host_name(word: &str) -> bool {
    word.bytes().any(|b| b.is_ascii_alphabetic())
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The full prefix length of an address: 32 or 128.
fn max_len(addr: IpAddr) -> u8 {
    if addr.is_ipv4() { 32 } else { 128 }
}

fn parse_prefix(addr: &str, len: Option<&str>) -> Result<Prefix, String> {
    let addr: IpAddr = addr
        .parse()
        .map_err(|_| "not an IPv4 or IPv6 address or a host name")?;
    let max = max_len(addr);
    let len = match len {
        None => max,
        Some(text) if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) => {
            match text.parse::<u8>() {
                Ok(len) if len <= max => len,
                _ if addr.is_ipv4() => {
                    return Err("prefix length out of range (0-32 for IPv4)".into());
                }
                _ => return Err("prefix length out of range (0-128 for IPv6)".into()),
            }
        }
        Some(_) => return Err("bad prefix length (expected /0 to /32, or /128 for IPv6)".into()),
    };
    Ok(Prefix { addr, len })
}

#[cfg(test)]
mod tests {
    use super::super::names::Fixed;
    use super::*;

    fn fake(text: &str) -> Result<Expr, FilterError> {
        parse_with(text, &mut Fixed)
    }

    fn show(text: &str) -> String {
        fake(text)
            .map(|e| e.to_string())
            .unwrap_or_else(|e| format!("error: {e}"))
    }

    fn err(text: &str) -> FilterError {
        fake(text).unwrap_err()
    }

    #[test]
    fn tokens_split_on_parentheses_and_operators() {
        let words: Vec<&str> = tokenize("(dport>=80)||!src\t[::1]:22 &&x")
            .iter()
            .map(|t| t.text)
            .collect();
        assert_eq!(
            words,
            [
                "(", "dport", ">=", "80", ")", "||", "!", "src", "[::1]:22", "&&", "x"
            ]
        );
        let offsets: Vec<usize> = tokenize("a  (b)").iter().map(|t| t.offset).collect();
        assert_eq!(offsets, [0, 3, 4, 5]);
    }

    #[test]
    fn precedence_is_not_then_and_then_or() {
        assert_eq!(
            show("dport = 1 or dport = 2 and dport = 3"),
            "(dport = 1 or (dport = 2 and dport = 3))"
        );
        assert_eq!(
            show("dport = 1 and dport = 2 or dport = 3"),
            "((dport = 1 and dport = 2) or dport = 3)"
        );
        assert_eq!(
            show("not dport = 1 and dport = 2"),
            "(not dport = 1 and dport = 2)"
        );
        assert_eq!(
            show("not (dport = 1 and dport = 2)"),
            "not (dport = 1 and dport = 2)"
        );
        assert_eq!(show("! ! autobound"), "not not autobound");
        assert_eq!(
            show("autobound or state listen"),
            "(autobound or state listen)"
        );
    }

    #[test]
    fn chains_are_flat_and_adjacent_conditions_are_and_ed() {
        assert_eq!(
            show("dport = 1 || dport = 2 | dport = 3 or dport = 4"),
            "(dport = 1 or dport = 2 or dport = 3 or dport = 4)"
        );
        assert_eq!(
            show("dst 10.0.0.1 dport = 80 or sport = 22"),
            "((dst 10.0.0.1/32 and dport = 80) or sport = 22)"
        );
        assert_eq!(
            show("state listen (sport = 22 or sport = 80)"),
            "(state listen and (sport = 22 or sport = 80))"
        );
        assert_eq!(
            show("autobound & dport eq 1 && sport ne 2"),
            "(autobound and dport = 1 and sport != 2)"
        );
    }

    #[test]
    fn parentheses_may_be_glued_to_words() {
        assert_eq!(show("(dport = 80)"), "dport = 80");
        assert_eq!(
            show("((dport=80))or(sport=:22)"),
            "(dport = 80 or sport = 22)"
        );
        assert_eq!(show("!(dst 127.0.0.1)"), "not dst 127.0.0.1/32");
    }

    #[test]
    fn every_port_operator_spelling() {
        for (words, symbol) in [
            (["=", "==", "eq"].as_slice(), "="),
            (&["!=", "ne", "neq"], "!="),
            (&["<", "lt"], "<"),
            (&["<=", "le", "leq"], "<="),
            (&[">", "gt"], ">"),
            (&[">=", "ge", "geq"], ">="),
        ] {
            for word in words {
                assert_eq!(
                    show(&format!("sport {word} :80")),
                    format!("sport {symbol} 80")
                );
                assert_eq!(
                    show(&format!("dport {} 80", word.to_uppercase())),
                    format!("dport {symbol} 80")
                );
            }
        }
        assert_eq!(show("dport 443"), "dport = 443");
        assert_eq!(show("DPORT :0"), "dport = 0");
        assert_eq!(show("sport = 65535"), "sport = 65535");
    }

    #[test]
    fn host_forms() {
        assert_eq!(show("dst 127.0.0.1"), "dst 127.0.0.1/32");
        assert_eq!(show("dst 10.0.0.0/8"), "dst 10.0.0.0/8");
        assert_eq!(show("dst 10.0.0.0/8:443"), "dst 10.0.0.0/8:443");
        assert_eq!(show("src 127.0.0.1:*"), "src 127.0.0.1/32");
        assert_eq!(show("dst = 127.0.0.1:80"), "dst 127.0.0.1/32:80");
        assert_eq!(show("dst == 127.0.0.1"), "dst 127.0.0.1/32");
        assert_eq!(show("dst *"), "dst *");
        assert_eq!(show("dst *:443"), "dst :443");
        assert_eq!(show("dst :443"), "dst :443");
        assert_eq!(show("dst :*"), "dst *");
        assert_eq!(show("dst ::1"), "dst ::1/128");
        assert_eq!(show("dst fe80::/10"), "dst fe80::/10");
        assert_eq!(show("dst ::ffff:127.0.0.0/104"), "dst ::ffff:127.0.0.0/104");
        assert_eq!(show("dst [::1]"), "dst ::1/128");
        assert_eq!(show("dst [::1]:443"), "dst [::1]/128:443");
        assert_eq!(show("dst [2001:db8::]/32:443"), "dst [2001:db8::]/32:443");
        assert_eq!(show("dst [2001:db8::/32]:443"), "dst [2001:db8::]/32:443");
        assert_eq!(show("dst [2001:db8::]/32"), "dst 2001:db8::/32");
        assert_eq!(show("dst [127.0.0.1]:80"), "dst 127.0.0.1/32:80");
        assert_eq!(show("dst 0.0.0.0/0"), "dst 0.0.0.0/0");
    }

    #[test]
    fn state_names_and_groups() {
        assert_eq!(show("state time-wait"), "state time-wait");
        assert_eq!(show("state TIME_WAIT"), "state time-wait");
        assert_eq!(show("state established"), "state established");
        assert_eq!(show("state estab"), "state established");
        assert_eq!(show("state listening"), "state listen");
        assert_eq!(show("state syn-rcv"), "state syn-recv");
        assert_eq!(show("state new-syn-recv"), "state syn-recv");
        assert_eq!(show("state unconnected"), "state close");
        let set = |name| parse_state(name).unwrap();
        assert_eq!(set("syn-recv").bits(), set("new-syn-recv").bits());
        assert!(set("syn-recv").contains(TcpState::NewSynRecv));
        assert!(set("connected").contains(TcpState::TimeWait));
        assert!(!set("connected").contains(TcpState::Listen));
        assert!(!set("connected").contains(TcpState::BoundInactive));
        assert!(!set("synchronized").contains(TcpState::SynSent));
        assert!(set("synchronized").contains(TcpState::Established));
        assert!(set("bucket").contains(TcpState::TimeWait));
        assert!(!set("big").contains(TcpState::TimeWait));
        assert_eq!(set("all").bits(), 0x3ffe);
        assert!(set("big").contains(TcpState::BoundInactive));
        assert!(
            !set("big").contains(TcpState::SynRecv) && !set("big").contains(TcpState::NewSynRecv)
        );
        assert_eq!(set("big").bits() | set("bucket").bits(), set("all").bits());
        assert_eq!(set("CONNECTED").bits(), set("connected").bits());
        for s in TcpState::ALL {
            assert!(set(s.word()).contains(s), "{s}");
        }
    }

    #[test]
    fn state_words_side_by_side_make_one_set_as_in_ss() {
        assert_eq!(
            show("state established state time-wait"),
            "(state established or state time-wait)"
        );
        assert_eq!(
            show("state syn-recv state time-wait"),
            "(state syn-recv or state time-wait)"
        );
        assert_eq!(
            show("state syn-recv state time-wait exclude listen"),
            "state bucket"
        );
        assert_eq!(show("state time-wait exclude time-wait"), "not state all");
        assert_eq!(
            show("exclude listen exclude time-wait"),
            "(not state listen and not state time-wait)"
        );
        assert_eq!(
            show("state listen exclude listen state established exclude close"),
            "state established"
        );
        assert_eq!(show("exclude bucket state time-wait"), "not state syn-recv");
        assert_eq!(
            show("state listen state established dport = 80"),
            "((state listen or state established) and dport = 80)"
        );
        // An explicit `and`, or any other word between them, keeps the conditions apart.
        assert_eq!(
            show("state listen and state established"),
            "(state listen and state established)"
        );
    }

    #[test]
    fn exclude_is_not_state() {
        assert_eq!(show("exclude time-wait"), "not state time-wait");
        assert_eq!(show("excl listen"), "not state listen");
        assert_eq!(
            show("exclude listen exclude time-wait"),
            "(not state listen and not state time-wait)"
        );
        // Side by side with a `state` word it takes states out of that word's set, as in ss.
        assert_eq!(show("state connected excl syn-sent"), "state synchronized");
    }

    #[test]
    fn service_names_are_ports() {
        assert_eq!(show("dport = :https"), "dport = 443");
        assert_eq!(show("sport = ssh"), "sport = 22");
        assert_eq!(show("dport >= :www"), "dport >= 80");
        assert_eq!(show("dst 10.0.0.1:http"), "dst 10.0.0.1/32:80");
        assert_eq!(show("dst [::1]:https"), "dst [::1]/128:443");
        assert_eq!(show("dst :https"), "dst :443");
        assert_eq!(show("src *:ssh"), "src :22");
    }

    #[test]
    fn host_names_are_every_address() {
        assert_eq!(show("dst db.internal"), "dst 10.0.0.5/32");
        assert_eq!(show("dst localhost"), "(dst 127.0.0.1/32 or dst ::1/128)");
        assert_eq!(
            show("src localhost:https and dport = 1"),
            "((src 127.0.0.1/32:443 or src [::1]/128:443) and dport = 1)"
        );
        assert_eq!(
            show("not dst localhost"),
            "not (dst 127.0.0.1/32 or dst ::1/128)"
        );
    }

    #[test]
    fn dev_takes_a_name_or_an_index() {
        assert_eq!(show("dev lo"), "dev 1");
        assert_eq!(show("dev = eth0"), "dev 2");
        assert_eq!(show("DEV == lo"), "dev 1");
        assert_eq!(show("dev != lo"), "not dev 1");
        assert_eq!(show("dev 7"), "dev 7");
        assert_eq!(show("dev eq 0"), "dev 0");
        assert_eq!(show("dev lo dport = 1"), "(dev 1 and dport = 1)");
    }

    #[test]
    fn errors_name_the_word_at_fault() {
        let cases = [
            ("state tim-wait", "tim-wait", "unknown state (try "),
            ("dport = 70000", "70000", "port out of range (0-65535)"),
            ("dport > :htps", ":htps", "unknown service 'htps'"),
            (
                "dst 10.0.0.1:htps",
                "10.0.0.1:htps",
                "unknown service 'htps'",
            ),
            ("dst [::1]:htps", "[::1]:htps", "unknown service 'htps'"),
            (
                "dst nosuch.example",
                "nosuch.example",
                "cannot resolve host name 'nosuch.example'",
            ),
            (
                "src nosuch:22",
                "nosuch:22",
                "cannot resolve host name 'nosuch'",
            ),
            (
                "dst localhost/8",
                "localhost/8",
                "not an IPv4 or IPv6 address",
            ),
            ("dev eth9", "eth9", "no such network interface 'eth9'"),
            ("dev = nosuchif0", "nosuchif0", "no such network interface"),
            ("dev > lo", ">", "'dev' takes '=' or '!='"),
            ("dev", "dev", "missing interface after 'dev'"),
            ("dev or", "or", "expected an interface name after 'dev'"),
            ("exclude", "exclude", "missing state name after 'exclude'"),
            ("excl tim-wait", "tim-wait", "unknown state (try "),
            (
                "dst 10.0.0.0/33",
                "10.0.0.0/33",
                "prefix length out of range (0-32 for IPv4)",
            ),
            (
                "dst ::/129",
                "::/129",
                "prefix length out of range (0-128 for IPv6)",
            ),
            ("dst 10.0.0", "10.0.0", "not an IPv4 or IPv6 address"),
            ("dst 10.0.0.1:99999", "10.0.0.1:99999", "port out of range"),
            ("dst [::1", "[::1", "missing ']'"),
            ("dst [::1]x", "[::1]x", "expected ':PORT' after ']'"),
            ("dst 1.2.3.4/x", "1.2.3.4/x", "bad prefix length"),
            ("dst 1.2.3.4:", "1.2.3.4:", "missing port number"),
            ("frobnicate", "frobnicate", "unknown word"),
            (
                "dst 1.2.3.4 frobnicate",
                "frobnicate",
                "expected 'and', 'or' or the end",
            ),
            (
                "(dport = 80",
                "(",
                "unbalanced parenthesis: no matching ')'",
            ),
            (
                "dport = 80)",
                ")",
                "unbalanced parenthesis: no matching '('",
            ),
            ("()", ")", "expected a condition before ')'"),
            ("dst", "dst", "missing address after 'dst'"),
            ("dport", "dport", "missing port after 'dport'"),
            ("dport >=", ">=", "missing port after '>='"),
            ("state", "state", "missing state name after 'state'"),
            ("dst and", "and", "expected an address after 'dst'"),
            ("dport = or", "or", "expected a port number after 'dport'"),
            ("dst > 1.2.3.4", ">", "takes an address, not a comparison"),
            ("and dport = 1", "and", "expected a condition before 'and'"),
            ("dport = 1 or", "or", "missing condition after 'or'"),
            ("dport = 1 and", "and", "missing condition after 'and'"),
            ("not", "not", "missing condition after 'not'"),
            ("= 80", "=", "operator without 'dport' or 'sport'"),
            ("dport = 1 (", "(", "unbalanced parenthesis"),
            ("(dport = 1 dport", "dport", "missing port after 'dport'"),
        ];
        for (text, word, message) in cases {
            let e = err(text);
            assert_eq!(e.word, word, "{text}: {e}");
            assert!(
                e.message.starts_with(message) || e.message.contains(message),
                "{text}: {e}"
            );
            assert_eq!(&text[e.offset..e.offset + e.word.len()], word, "{text}");
        }
        assert_eq!(err("").message, "empty filter");
        assert_eq!(err("  \t ").message, "empty filter");
    }

    #[test]
    fn nesting_is_bounded() {
        let ok = format!(
            "{}dport = 1{}",
            "(".repeat(MAX_DEPTH),
            ")".repeat(MAX_DEPTH)
        );
        assert!(fake(&ok).is_ok());
        let deep = format!(
            "{}dport = 1{}",
            "(".repeat(MAX_DEPTH + 1),
            ")".repeat(MAX_DEPTH + 1)
        );
        assert!(err(&deep).message.starts_with("nested more than"));
        let nots = format!("{}autobound", "not ".repeat(100_000));
        assert!(err(&nots).message.starts_with("nested more than"));
        let long = vec!["dport = 1"; 50_000].join(" or ");
        assert!(fake(&long).is_ok());
    }

    #[test]
    fn malformed_inputs_never_panic() {
        let pieces = [
            "dst",
            "src",
            "dport",
            "sport",
            "state",
            "autobound",
            "exclude",
            "dev",
            "lo",
            "localhost",
            ":https",
            "host:ssh",
            "and",
            "or",
            "not",
            "!",
            "(",
            ")",
            "=",
            "!=",
            "<",
            ">=",
            "==",
            "&&",
            "||",
            "*",
            ":",
            ":80",
            "[",
            "]",
            "[::1]",
            "[::1]:",
            "::",
            "1.2.3.4/",
            "/",
            "/8",
            "1.2.3.4:99999",
            "time-wait",
            "x",
            "\u{e9}",
            "\u{1f600}",
            "(\u{e9})",
            "[\u{e9}]",
            "1.2.3.4/33",
            "-1",
            "65536",
            "\0",
            "\\",
            "\"",
            "*:*",
            "[::1]/",
            "[::1]/:1",
            "[/]",
            "[]",
            ":[",
        ];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..20_000 {
            let n = next() % 7;
            let mut text = String::new();
            for _ in 0..n {
                let piece = pieces[(next() % pieces.len() as u64) as usize];
                text.push_str(piece);
                if !next().is_multiple_of(3) {
                    text.push(' ');
                }
            }
            if let Err(e) = fake(&text) {
                assert!(!e.to_string().contains('\n'), "{text:?}: {e}");
                assert!(
                    text.get(e.offset..e.offset + e.word.len()) == Some(e.word.as_str()),
                    "{text:?}: {e:?}"
                );
            }
        }
    }
}
