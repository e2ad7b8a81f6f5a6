//! Draws the TUI: tabs, the current screen's table, a status line, and pop-ups.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{
    Block, Borders, Cell, Clear, Paragraph, Row, Table, TableState, Tabs, Wrap,
};
use serde_json::Value;

use super::state::{App, Mode, Tab};
use crate::commands::cell;

/// Draws the whole screen.
pub(crate) fn draw(frame: &mut Frame<'_>, app: &App) {
    let [top, body, bottom] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    let titles: Vec<Line<'_>> = Tab::ALL
        .iter()
        .enumerate()
        .map(|(i, t)| Line::from(format!("{} {}", i + 1, t.title())))
        .collect();
    let selected = Tab::ALL.iter().position(|t| *t == app.tab).unwrap_or(0);
    let tabs = Tabs::new(titles)
        .select(selected)
        .block(
            Block::default()
                .borders(Borders::ALL)
                .title(format!(" buntime · {} · {} ", app.remote, app.url)),
        )
        .highlight_style(Style::default().add_modifier(Modifier::BOLD | Modifier::REVERSED));
    frame.render_widget(tabs, top);
    match app.tab {
        Tab::Apps => list(
            frame,
            body,
            app,
            Tab::Apps,
            &["NAME", "VERSIONS", "PATH"],
            |a| vec![cell(&a["name"]), cell(&a["versions"]), cell(&a["path"])],
        ),
        Tab::Plugins => plugins(frame, body, app),
        Tab::Keys => list(
            frame,
            body,
            app,
            Tab::Keys,
            &["ID", "NAME", "ROLE", "PREFIX", "EXPIRES", "LAST USED"],
            |k| {
                let time = |v: &Value| {
                    v.as_u64()
                        .map_or_else(|| cell(v), buntime_auth::cli::format_time)
                };
                let expires = if k["expiresAt"].is_null() {
                    "never".to_owned()
                } else {
                    time(&k["expiresAt"])
                };
                vec![
                    cell(&k["id"]),
                    cell(&k["name"]),
                    cell(&k["role"]),
                    cell(&k["keyPrefix"]),
                    expires,
                    time(&k["lastUsedAt"]),
                ]
            },
        ),
        Tab::Settings => settings(frame, body, app),
    }
    status_line(frame, bottom, app);
    match &app.mode {
        Mode::Normal => {}
        Mode::Confirm(action) => popup(frame, "Confirm", &App::question(action)),
        Mode::NewKey(text) => popup(
            frame,
            "New API key",
            &format!(
                "name[:role] (role: admin, editor, viewer; default editor)\n> {text}_\nEnter creates, Esc cancels"
            ),
        ),
        Mode::Secret(secret) => popup(
            frame,
            "Secret (shown only once)",
            &format!("{secret}\n\nStore it now. Any key closes this."),
        ),
    }
}

/// Loaded plugins on top (read-only), the installed directories below (what `e`/`x`/`d` act on).
fn plugins(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let loaded = app.plugins.as_deref().map_err(String::as_str);
    let height = u16::try_from(loaded.map_or(1, <[Value]>::len) + 3).unwrap_or(u16::MAX);
    let [top, bottom] =
        Layout::vertical([Constraint::Max(height.max(4)), Constraint::Min(3)]).areas(area);
    let loaded_row = |p: &Value| {
        vec![
            cell(&p["name"]),
            cell(&p["version"]),
            cell(&p["kind"]),
            cell(&p["base"]),
            cell(&p["dependencies"]),
        ]
    };
    let header = ["NAME", "VERSION", "KIND", "BASE", "DEPENDS ON"];
    table_of(
        frame,
        top,
        "Loaded plugins",
        loaded,
        &header,
        loaded_row,
        None,
    );
    let dirs = app.rows(Tab::Plugins);
    let dir_row = |d: &Value| vec![cell(&d["name"]), cell(&d["path"])];
    let selected = Some(app.selected(Tab::Plugins));
    table_of(
        frame,
        bottom,
        "Installed directories",
        dirs,
        &["DIR", "PATH"],
        dir_row,
        selected,
    );
}

fn list(
    frame: &mut Frame<'_>,
    area: Rect,
    app: &App,
    tab: Tab,
    header: &[&str],
    row: impl Fn(&Value) -> Vec<String>,
) {
    let selected = Some(app.selected(tab));
    table_of(
        frame,
        area,
        tab.title(),
        app.rows(tab),
        header,
        row,
        selected,
    );
}

/// A bordered table of `items`, or the reason there are none; `selected` marks a row.
fn table_of(
    frame: &mut Frame<'_>,
    area: Rect,
    title: &str,
    items: Result<&[Value], &str>,
    header: &[&str],
    row: impl Fn(&Value) -> Vec<String>,
    selected: Option<usize>,
) {
    let block = Block::default()
        .borders(Borders::ALL)
        .title(format!(" {title} "));
    let items = match items {
        Ok(items) => items,
        Err(why) => {
            frame.render_widget(
                Paragraph::new(why.to_owned())
                    .wrap(Wrap { trim: true })
                    .block(block),
                area,
            );
            return;
        }
    };
    if items.is_empty() {
        frame.render_widget(
            Paragraph::new(format!("No {} yet.", title.to_lowercase())).block(block),
            area,
        );
        return;
    }
    let rows: Vec<Vec<String>> = items.iter().map(&row).collect();
    let widths: Vec<Constraint> = (0..header.len())
        .map(|i| {
            let widest = rows
                .iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].len()])
                .max()
                .unwrap_or(4);
            Constraint::Length(u16::try_from(widest).unwrap_or(u16::MAX))
        })
        .collect();
    let table = Table::new(
        rows.into_iter()
            .map(|r| Row::new(r.into_iter().map(Cell::from))),
        widths,
    )
    .header(
        Row::new(header.iter().map(|h| Cell::from(*h)))
            .style(Style::default().add_modifier(Modifier::BOLD)),
    )
    .row_highlight_style(Style::default().add_modifier(Modifier::REVERSED))
    .highlight_symbol("> ")
    .column_spacing(2)
    .block(block);
    let mut state = TableState::default().with_selected(selected);
    frame.render_stateful_widget(table, area, &mut state);
}

fn settings(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let r = &app.ready;
    let mut lines = vec![
        format!("Remote       {}", app.remote),
        format!("URL          {}", app.url),
        format!("Version      {}", cell(&r["version"])),
        format!("Status       {}", cell(&r["status"])),
        format!("Generation   {}", cell(&r["generation"])),
        format!(
            "Config dir   {}",
            crate::profiles::config_dir().map_or_else(|f| f.message, |d| d.display().to_string())
        ),
    ];
    for key in ["unavailable", "failed", "detail"] {
        if !r[key].is_null() {
            lines.push(format!("{:<12} {}", key, cell(&r[key])));
        }
    }
    lines.push(String::new());
    lines.push(
        "Switch remotes with `buntime remote use NAME`, or start with `buntime tui --remote NAME`."
            .to_owned(),
    );
    let text: Vec<Line<'_>> = lines.into_iter().map(Line::from).collect();
    frame.render_widget(
        Paragraph::new(text)
            .wrap(Wrap { trim: false })
            .block(Block::default().borders(Borders::ALL).title(" Settings ")),
        area,
    );
}

fn status_line(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let (style, text) = match &app.message {
        Some((true, m)) => (Style::default().fg(Color::Red), m.clone()),
        Some((false, m)) => (Style::default(), m.clone()),
        None => {
            let extra = match app.tab {
                Tab::Apps => "  d remove",
                Tab::Plugins => "  e enable  x disable  d delete  R reload",
                Tab::Keys => "  n new  d revoke",
                Tab::Settings => "",
            };
            (
                Style::default().fg(Color::DarkGray),
                format!("1-4/Tab screens  j/k move  r refresh{extra}  q quit"),
            )
        }
    };
    frame.render_widget(
        Paragraph::new(buntime_auth::cli::printable(&text, 500)).style(style),
        area,
    );
}

fn popup(frame: &mut Frame<'_>, title: &str, text: &str) {
    let area = frame.area();
    let w = area.width.saturating_sub(4).min(70);
    let h = 7.min(area.height);
    let rect = Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    };
    frame.render_widget(Clear, rect);
    let lines: Vec<Line<'_>> = text.lines().map(|l| Line::from(l.to_owned())).collect();
    let p = Paragraph::new(lines).wrap(Wrap { trim: false }).block(
        Block::default()
            .borders(Borders::ALL)
            .title(format!(" {title} ")),
    );
    frame.render_widget(p, rect);
}

#[cfg(test)]
mod tests {
    use crossterm::event::KeyCode;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    use super::*;
    use crate::tui::state::tests::{Fake, key, loaded};

    fn screen(app: &App) -> String {
        let mut term = Terminal::new(TestBackend::new(100, 16)).unwrap();
        term.draw(|f| draw(f, app)).unwrap();
        let buf = term.backend().buffer();
        (0..buf.area.height)
            .map(|y| {
                (0..buf.area.width)
                    .map(|x| buf[(x, y)].symbol())
                    .collect::<String>()
                    .trim_end()
                    .to_owned()
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn the_apps_screen_lists_apps_with_the_selection_marked() {
        let src = Fake::default();
        let app = loaded(&src);
        let s = screen(&app);
        assert!(
            s.lines()
                .next()
                .unwrap()
                .contains("buntime · prod · http://rt"),
            "{s}"
        );
        assert!(
            s.contains("1 Apps")
                && s.contains("2 Plugins")
                && s.contains("3 API Keys")
                && s.contains("4 Settings"),
            "{s}"
        );
        let lines: Vec<&str> = s.lines().collect();
        assert!(
            lines
                .iter()
                .any(|l| l.contains("NAME") && l.contains("VERSIONS") && l.contains("PATH")),
            "{s}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.contains("> site") && l.contains("2.0.0, 1.0.0")),
            "{s}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.contains("@acme/web") && !l.contains('>')),
            "{s}"
        );
        assert!(lines.last().unwrap().contains("d remove"), "{s}");
    }

    #[test]
    fn each_screen_draws_its_own_rows() {
        let src = Fake::default();
        let mut app = loaded(&src);
        app.on_key(key(KeyCode::Char('2')), &src);
        let s = screen(&app);
        assert!(
            s.lines().any(|l| l.contains("@buntime/plugin-hello")
                && l.contains("native")
                && l.contains("/hello")),
            "{s}"
        );
        assert!(
            s.contains("Loaded plugins") && s.contains("Installed directories"),
            "{s}"
        );
        assert!(
            s.lines()
                .any(|l| l.contains("> plugin-hello") && l.contains("/data/plugins/plugin-hello")),
            "{s}"
        );
        assert!(s.lines().last().unwrap().contains("x disable"), "{s}");
        app.on_key(key(KeyCode::Char('3')), &src);
        let s = screen(&app);
        assert!(
            s.lines().any(|l| l.contains("7")
                && l.contains("ci")
                && l.contains("viewer")
                && l.contains("never")),
            "{s}"
        );
        app.on_key(key(KeyCode::Char('4')), &src);
        let s = screen(&app);
        assert!(
            s.contains("Status       ready")
                && s.contains("Generation   3")
                && s.contains("Version      0.1.0"),
            "{s}"
        );
    }

    #[test]
    fn a_screen_the_key_may_not_read_says_why() {
        let src = Fake {
            deny_keys: true,
            ..Fake::default()
        };
        let mut app = loaded(&src);
        app.on_key(key(KeyCode::Char('3')), &src);
        let s = screen(&app);
        assert!(s.contains("Missing permission: keys:read"), "{s}");
    }

    #[test]
    fn pop_ups_ask_before_changes_and_show_a_new_secret() {
        let src = Fake::default();
        let mut app = loaded(&src);
        app.on_key(key(KeyCode::Char('d')), &src);
        assert!(screen(&app).contains("Remove app site (every version)? y/n"));
        app.on_key(key(KeyCode::Esc), &src);
        app.on_key(key(KeyCode::Char('3')), &src);
        app.on_key(key(KeyCode::Char('n')), &src);
        app.on_key(key(KeyCode::Char('x')), &src);
        assert!(screen(&app).contains("> x_"));
        app.on_key(key(KeyCode::Enter), &src);
        let s = screen(&app);
        assert!(
            s.contains("Secret (shown only once)") && s.contains("btk_newsecret"),
            "{s}"
        );
    }
}
