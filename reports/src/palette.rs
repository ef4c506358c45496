//! The colours of the report, decided in one place so that a protocol has the same
//! colour in every plot (and in anything else this crate draws): Raft blue, ZAB orange,
//! Paxos green, real ZooKeeper red and etcd teal, any other protocol a fallback picked from its name (so it keeps its
//! colour across plots and files too). Everything that is not a protocol (failover
//! phases, message kinds, timeout settings) takes [`category_color`], whose colours
//! avoid the three protocol hues so that an orange bar never reads as "ZAB".

use plotters::style::{Color, Palette, Palette99, RGBColor};

/// Raft's colour (blue).
pub(crate) const RAFT: RGBColor = RGBColor(31, 119, 180);
/// ZAB's colour (orange).
pub(crate) const ZAB: RGBColor = RGBColor(255, 127, 14);
/// Paxos's colour (green).
pub(crate) const PAXOS: RGBColor = RGBColor(44, 160, 44);

/// Real ZooKeeper's colour (`cwb bench --peers`; red, apart from ZAB's orange).
pub(crate) const ZOOKEEPER: RGBColor = RGBColor(214, 39, 40);
/// Real etcd's colour (`cwb bench --peers`; teal, apart from Raft's blue).
pub(crate) const ETCD: RGBColor = RGBColor(0, 90, 90);

/// Colours for protocols other than the three, chosen by name.
const OTHER_PROTOCOLS: [RGBColor; 4] = [
    RGBColor(214, 39, 40),
    RGBColor(227, 119, 194),
    RGBColor(188, 189, 34),
    RGBColor(0, 90, 90),
];

/// Colours for categories that are not protocols, none of them a protocol's hue
/// (no blue, orange or green), in an order that keeps neighbours apart.
const CATEGORIES: [RGBColor; 22] = [
    RGBColor(127, 127, 127),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(23, 190, 207),
    RGBColor(197, 176, 213),
    RGBColor(196, 156, 148),
    RGBColor(199, 199, 199),
    RGBColor(158, 218, 229),
    RGBColor(247, 182, 210),
    RGBColor(219, 219, 141),
    RGBColor(82, 82, 82),
    RGBColor(107, 76, 154),
    RGBColor(214, 39, 40),
    RGBColor(255, 215, 0),
    RGBColor(0, 128, 128),
    RGBColor(128, 0, 64),
    RGBColor(189, 183, 107),
    RGBColor(227, 119, 194),
    RGBColor(90, 50, 40),
    RGBColor(230, 190, 255),
    RGBColor(40, 40, 40),
    RGBColor(255, 153, 204),
];

/// The colour of a protocol, the same in every plot. Names are matched without
/// regard to case; an unknown protocol gets a fallback fixed by its name.
pub(crate) fn protocol_color(protocol: &str) -> RGBColor {
    match protocol.to_ascii_lowercase().as_str() {
        "raft" => RAFT,
        "zab" => ZAB,
        "paxos" => PAXOS,
        "zookeeper" => ZOOKEEPER,
        "etcd" => ETCD,
        other => {
            let hash = other.bytes().fold(0usize, |h, b| {
                h.wrapping_mul(31).wrapping_add(usize::from(b))
            });
            OTHER_PROTOCOLS[hash % OTHER_PROTOCOLS.len()]
        }
    }
}

/// The i-th colour for things that are not protocols: [`CATEGORIES`] first, then
/// plotters' 99-colour palette.
pub(crate) fn category_color(index: usize) -> RGBColor {
    match CATEGORIES.get(index) {
        Some(c) => *c,
        None => {
            let (r, g, b) = Palette99::pick(index - CATEGORIES.len()).to_rgba().rgb();
            RGBColor(r, g, b)
        }
    }
}

/// The colours of the four failover phases: detection, election, recovery, first
/// commit.
pub(crate) const PHASE_COLORS: [RGBColor; 4] =
    [CATEGORIES[0], CATEGORIES[1], CATEGORIES[2], CATEGORIES[3]];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocols_keep_their_colour_whatever_the_case_or_order() {
        assert_eq!(protocol_color("raft"), RAFT);
        assert_eq!(protocol_color("ZAB"), ZAB);
        assert_eq!(protocol_color("paxos"), PAXOS);
        let other = protocol_color("epaxos");
        assert_eq!(other, protocol_color("epaxos"), "stable for one name");
        assert!(![RAFT, ZAB, PAXOS].contains(&other));
    }

    #[test]
    fn real_zookeeper_and_etcd_have_colours_of_their_own() {
        let (zk, etcd) = (protocol_color("zookeeper"), protocol_color("etcd"));
        assert_ne!(zk, etcd);
        for c in [zk, etcd] {
            assert!(![RAFT, ZAB, PAXOS].contains(&c));
        }
    }

    #[test]
    fn categories_never_take_a_protocol_colour() {
        for i in 0..CATEGORIES.len() {
            assert!(![RAFT, ZAB, PAXOS].contains(&category_color(i)), "{i}");
        }
        // Past the list: plotters' palette, still a colour.
        let _ = category_color(40);
    }
}
