//! `buntime tui`: a terminal UI over a remote runtime's REST API, with the original's screens
//! (apps, plugins, API keys, settings).

use std::time::Duration;

use crossterm::event::{self, Event, KeyEventKind};
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

use crate::commands::Target;
use crate::failure::{Failure, Outcome};

mod state;
mod view;

use state::App;

/// Puts the terminal back however the UI ends (return, error or panic).
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        let _ = disable_raw_mode();
        let _ = execute!(std::io::stdout(), LeaveAlternateScreen);
    }
}

pub(crate) fn run(target: &Target) -> Outcome {
    let (remote, client) = target.connect()?;
    let mut app = App::new(&remote, client.url());
    // Fail before taking over the terminal when the runtime cannot be reached at all.
    client.get_report("/health/ready")?;
    app.refresh(&client);
    let term_err = |e: std::io::Error| Failure::failed(format!("cannot use the terminal: {e}"));
    enable_raw_mode().map_err(term_err)?;
    let _restore = Restore;
    execute!(std::io::stdout(), EnterAlternateScreen).map_err(term_err)?;
    let mut terminal = Terminal::new(CrosstermBackend::new(std::io::stdout())).map_err(term_err)?;
    while !app.quit {
        terminal.draw(|f| view::draw(f, &app)).map_err(term_err)?;
        if !event::poll(Duration::from_millis(500)).map_err(term_err)? {
            continue;
        }
        match event::read().map_err(term_err)? {
            Event::Key(key) if key.kind == KeyEventKind::Press => app.on_key(key, &client),
            _ => {}
        }
    }
    Ok(())
}
