//! A Server-Sent Events reader over an HTTP body stream: events whose
//! `data` is JSON; comments and blank keep-alives are skipped.

use futures::{Stream, StreamExt};
use serde_json::Value;

/// One event of the stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: Option<String>,
    pub name: String,
    pub data: Value,
}

pub struct Reader<S> {
    body: S,
    buffer: String,
}

impl<S, B, E> Reader<S>
where
    S: Stream<Item = Result<B, E>> + Unpin,
    B: AsRef<[u8]>,
    E: std::fmt::Display,
{
    pub fn new(body: S) -> Self {
        Self {
            body,
            buffer: String::new(),
        }
    }

    /// The next event; `None` when the stream ends.
    pub async fn next(&mut self) -> Option<Result<Event, String>> {
        loop {
            if let Some(event) = self.take_event() {
                return Some(event);
            }
            match self.body.next().await? {
                Ok(chunk) => self
                    .buffer
                    .push_str(&String::from_utf8_lossy(chunk.as_ref()).replace("\r\n", "\n")),
                Err(e) => return Some(Err(format!("the event stream broke off ({e})"))),
            }
        }
    }

    fn take_event(&mut self) -> Option<Result<Event, String>> {
        loop {
            let end = self.buffer.find("\n\n")?;
            let block: String = self.buffer.drain(..end + 2).collect();
            let (mut id, mut name, mut data) = (None, "message".to_owned(), String::new());
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    id = Some(v.trim().to_owned());
                } else if let Some(v) = line.strip_prefix("event:") {
                    name = v.trim().to_owned();
                } else if let Some(v) = line.strip_prefix("data:") {
                    if !data.is_empty() {
                        data.push('\n');
                    }
                    data.push_str(v.strip_prefix(' ').unwrap_or(v));
                }
            }
            if data.is_empty() {
                continue; // a comment or keep-alive
            }
            return Some(
                serde_json::from_str(&data)
                    .map(|data| Event { id, name, data })
                    .map_err(|e| format!("an event's data is not JSON ({e})")),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[tokio::test]
    async fn events_split_across_chunks_and_keep_alives_are_read_in_order() {
        let chunks: Vec<Result<&[u8], String>> = vec![
            Ok(b": keep-alive\n\nid: 3\nevent: progress\ndata: {\"percent\""),
            Ok(b": 12.5}\n\n"),
            Ok(b"event: finished\r\ndata: {\"status\": \"completed\"}\r\n\r\n"),
        ];
        let mut reader = Reader::new(futures::stream::iter(chunks));
        let first = reader.next().await.unwrap().unwrap();
        assert_eq!(first.id.as_deref(), Some("3"));
        assert_eq!(first.name, "progress");
        assert_eq!(first.data["percent"], 12.5);
        let second = reader.next().await.unwrap().unwrap();
        assert_eq!(second.name, "finished");
        assert!(reader.next().await.is_none());
    }
}
