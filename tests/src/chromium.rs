//! A page opened in a real browser: Debian's `chromium`, headless, driven as a command (no
//! WebDriver): one run takes a screenshot and dumps the DOM after layout, with the browser's
//! log on stderr for console messages and uncaught errors.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What the browser made of a page.
#[derive(Debug)]
pub struct Rendered {
    /// The DOM after the page loaded.
    pub dom: String,
    /// The screenshot (a PNG).
    pub screenshot: PathBuf,
    /// Distinct colours in the screenshot.
    pub colours: usize,
    /// The share of pixels not of the most common colour (the background).
    pub ink: f64,
    /// Console messages, uncaught errors and failed loads about the page.
    pub page_errors: Vec<String>,
}

/// The binary Debian's package installs.
const CHROMIUM: &str = "chromium";
/// A generous bound for a page that should render in a second or two.
const DEADLINE: Duration = Duration::from_secs(90);

/// Opens `page` (a local file) in headless Chromium at 1280×`height`, screenshot to
/// `screenshot`. Panics, saying how to install it, when Chromium is missing.
pub fn open(page: &Path, screenshot: &Path, height: u32) -> Rendered {
    let installed = Command::new(CHROMIUM)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        installed,
        "chromium is not installed: install it with `apt-get install -y chromium` (.ci/run does)"
    );
    let profile = tempfile::tempdir().expect("tempdir for the browser profile");
    let url = format!(
        "file://{}",
        page.canonicalize().expect("the page").display()
    );
    let output = run_until_done(
        Command::new(CHROMIUM)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                // Nothing may come from the network: a page that tries fails to load it.
                "--host-resolver-rules=MAP * ~NOTFOUND",
                "--enable-logging=stderr",
                "--v=0",
                "--dump-dom",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(format!("--screenshot={}", screenshot.display()))
            .arg(format!("--window-size=1280,{height}"))
            .arg(&url),
    );
    let (colours, ink) = colours(screenshot);
    Rendered {
        dom: output.0,
        screenshot: screenshot.to_path_buf(),
        colours,
        ink,
        page_errors: page_errors(&output.1, &url),
    }
}

/// Runs the browser to its end (killed after [`DEADLINE`]): (stdout, stderr).
fn run_until_done(command: &mut Command) -> (String, String) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    let (mut stdout, mut stderr) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let out = std::thread::spawn(move || std::io::read_to_string(&mut stdout).unwrap_or_default());
    let err = std::thread::spawn(move || std::io::read_to_string(&mut stderr).unwrap_or_default());
    let began = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for chromium") {
            break status;
        }
        if began.elapsed() > DEADLINE {
            let _ = child.kill();
            panic!("chromium did not finish within {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let (out, err) = (out.join().unwrap(), err.join().unwrap());
    assert!(status.success(), "chromium failed ({status}):\n{err}");
    (out, err)
}

/// Opens the HTML report at `page` and checks that it rendered: the screenshot is not blank
/// (many colours, much drawn), every selector of `elements` (`id="…"` or `class="…`) is in
/// the DOM, and the page logged no error. The screenshot goes next to the page.
pub fn assert_report_renders(page: &Path, elements: &[&str]) -> Rendered {
    assert!(page.is_file(), "no report at {}", page.display());
    let rendered = open(page, &page.with_extension("png"), 2400);
    let shown = rendered.screenshot.display();
    assert!(
        rendered.colours >= 16 && rendered.ink >= 0.05,
        "the screenshot {shown} looks blank: {} colours, {:.1}% drawn",
        rendered.colours,
        rendered.ink * 100.0
    );
    for element in elements {
        assert!(
            rendered.dom.contains(element),
            "{element} is not in the DOM of {}",
            page.display()
        );
    }
    assert!(
        rendered.page_errors.is_empty(),
        "the page logged errors: {:#?}",
        rendered.page_errors
    );
    rendered
}

/// The lines of the browser's log about the page: console messages (`CONSOLE`), uncaught
/// errors, failed loads (`net::ERR_…`) and errors naming the page. The rest is Chromium
/// about the machine — no D-Bus, no GPU, no sandbox in a container — and says nothing about
/// the page, so it is left out.
pub fn page_errors(log: &str, url: &str) -> Vec<String> {
    log.lines()
        .filter(|line| {
            line.contains(":CONSOLE")
                || line.contains("Uncaught")
                || line.contains("net::ERR")
                || (line.contains("ERROR") && line.contains(url))
        })
        .map(str::to_owned)
        .collect()
}

/// (distinct colours, share of pixels not of the most common colour) of a PNG.
fn colours(png_path: &Path) -> (usize, f64) {
    let file = std::fs::File::open(png_path)
        .unwrap_or_else(|e| panic!("no screenshot at {}: {e}", png_path.display()));
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().expect("the screenshot is a PNG");
    let mut pixels = vec![0; reader.output_buffer_size().expect("a PNG of sane size")];
    let info = reader
        .next_frame(&mut pixels)
        .expect("decode the screenshot");
    let samples = info.color_type.samples();
    let mut counts: HashMap<&[u8], usize> = HashMap::new();
    for pixel in pixels[..info.buffer_size()].chunks_exact(samples) {
        *counts.entry(&pixel[..3.min(samples)]).or_default() += 1;
    }
    let total: usize = counts.values().sum();
    let background = counts.values().copied().max().unwrap_or(0);
    let ink = if total == 0 {
        0.0
    } else {
        (total - background) as f64 / total as f64
    };
    (counts.len(), ink)
}

#[cfg(test)]
mod tests {
    use super::page_errors;

    #[test]
    fn console_messages_count_and_the_machines_noise_does_not() {
        let url = "file:///tmp/r.html";
        let log = "\
[1:1:1130/224708.159100:ERROR:dbus/object_proxy.cc:572] Failed to call method: org.freedesktop.DBus.NameHasOwner
[1:1:1130/224721.702347:WARNING:media/gpu/vaapi/vaapi_wrapper.cc:1655] drmGetDevices2() has not found any devices
[1:1:1130/224730.232553:INFO:CONSOLE:1] \"boom\", source: file:///tmp/r.html (1)
[1:1:1130/224730.233238:INFO:CONSOLE:1] \"Uncaught ReferenceError: nope is not defined\", source: file:///tmp/r.html (1)";
        let errors = page_errors(log, url);
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors.iter().all(|e| e.contains("CONSOLE")));
    }
}
