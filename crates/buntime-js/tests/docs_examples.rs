//! The TypeScript guide shows example files that other tests run: every code block it marks with
//! `<!-- example: <path> -->` must still be that file (JSON compared by value, anything else line
//! for line, leading `//` comment lines ignored since the guide names the file there).

use std::path::{Path, PathBuf};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// `(path, block)` for every marked fenced block of `markdown`.
fn marked_blocks(markdown: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut lines = markdown.lines();
    while let Some(line) = lines.next() {
        let Some(path) = line.trim().strip_prefix("<!-- example:").and_then(|r| r.strip_suffix("-->")) else { continue };
        let fence = lines.next().unwrap_or_default();
        assert!(fence.starts_with("```"), "the marker for {path} must sit right above a code block, found {fence:?}");
        let block: Vec<&str> = lines.by_ref().take_while(|l| !l.starts_with("```")).collect();
        out.push((path.trim().to_owned(), block.join("\n")));
    }
    out
}

fn code_lines(text: &str) -> Vec<&str> {
    let lines: Vec<&str> = text.trim().lines().collect();
    let start = lines.iter().position(|l| !l.starts_with("// ")).unwrap_or(lines.len());
    lines[start..].iter().map(|l| l.trim_end()).collect()
}

#[test]
fn the_typescript_guide_shows_the_example_files_as_they_are() {
    let guide = std::fs::read_to_string(repo_root().join("docs/plugins-typescript.md")).unwrap();
    let blocks = marked_blocks(&guide);
    assert!(blocks.len() >= 6, "the guide marks its example blocks: {:?}", blocks.iter().map(|b| &b.0).collect::<Vec<_>>());
    for (path, block) in blocks {
        let file = std::fs::read_to_string(repo_root().join(&path)).unwrap_or_else(|e| panic!("docs/plugins-typescript.md shows {path}, which cannot be read: {e}"));
        if path.ends_with(".json") {
            let (shown, real): (serde_json::Value, serde_json::Value) = (serde_json::from_str(&block).unwrap(), serde_json::from_str(&file).unwrap());
            assert_eq!(shown, real, "docs/plugins-typescript.md shows a different {path}");
        } else {
            assert_eq!(code_lines(&block), code_lines(&file), "docs/plugins-typescript.md shows a different {path}; update the guide or the example");
        }
    }
}

#[test]
fn a_marker_must_name_the_block_below_it() {
    let blocks = marked_blocks("text\n<!-- example: a/b.ts -->\n```ts\nx\ny\n```\nmore\n");
    assert_eq!(blocks, [("a/b.ts".to_owned(), "x\ny".to_owned())]);
    assert_eq!(code_lines("// a/b.ts\n// about\nx  \ny\n"), ["x", "y"]);
}
