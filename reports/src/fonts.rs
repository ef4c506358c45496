//! Fonts for plotters' text layout.
//!
//! plotters 0.3.7's SVG backend never rasterises text: it writes `<text>` elements
//! with `font-family="sans-serif"` and lets the viewer render them. A font is only
//! used to *measure* labels during layout. Without plotters' `ab_glyph` feature (this
//! crate's default), plotters measures text with a built-in estimate and needs no font
//! at all, so nothing can fail for lack of one, and criterion's own plotters charts
//! (criterion enables plotters without any font feature) keep working.
//!
//! Cargo unifies features across the workspace: if some crate turns on plotters'
//! `ab_glyph`, every text drawn by plotters (ours and criterion's) then needs a font
//! registered under "sans-serif", or drawing fails with `FontUnavailable`. For that
//! case this crate's `embedded-font` feature enables `ab_glyph` itself and registers
//! DejaVu Sans, shipped in `fonts/` with its licence (Bitstream Vera licence, which
//! permits redistribution), so nothing depends on system font paths at run time.

/// Registers the fonts plotters needs, once per process; later calls do nothing.
///
/// With the default features plotters needs no font and this is a no-op. With the
/// `embedded-font` feature it registers the embedded DejaVu Sans as "sans-serif"
/// (plus "serif" and "monospace", which criterion's charts may ask for). Benches that
/// draw criterion plots in a build where plotters' `ab_glyph` is on should call it
/// before `Criterion` draws anything. [`crate::write_report`] calls it itself.
pub fn register_fonts() {
    #[cfg(feature = "embedded-font")]
    {
        static REGISTER: std::sync::Once = std::sync::Once::new();
        REGISTER.call_once(|| {
            const DEJAVU_SANS: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");
            for family in ["sans-serif", "serif", "monospace"] {
                for style in [
                    plotters::style::FontStyle::Normal,
                    plotters::style::FontStyle::Bold,
                ] {
                    // Registration only fails on an unparsable font file, and this
                    // one is checked by the tests; a failure would surface as
                    // FontUnavailable when drawing, which callers report.
                    let _ = plotters::style::register_font(family, style, DEJAVU_SANS);
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn registering_twice_is_harmless() {
        super::register_fonts();
        super::register_fonts();
    }

    #[cfg(feature = "embedded-font")]
    #[test]
    fn the_embedded_font_parses() {
        let bytes: &'static [u8] = include_bytes!("../fonts/DejaVuSans.ttf");
        assert!(plotters::style::register_font(
            "test-family",
            plotters::style::FontStyle::Normal,
            bytes
        )
        .is_ok());
    }
}
