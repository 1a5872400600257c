//! Paging a list the node holds whole (consents, warnings): a page of at
//! most `limit` entries from the cursor on, and the cursor of the next.

/// The most entries a page holds.
pub const MAX_PAGE: u32 = 500;
/// The entries a page holds when the caller does not say.
pub const DEFAULT_PAGE: u32 = 50;

/// A query parameter as given, `None` when absent; an empty one
/// (`?next=`) is refused, naming it.
pub fn param<'a>(v: &'a Option<String>, name: &str) -> Result<Option<&'a str>, String> {
    match v.as_deref() {
        Some("") => Err(format!("`{name}=` is empty: give a value or leave it out")),
        other => Ok(other),
    }
}

/// The page of `all` that `page` asks for, and the next cursor; or why
/// the request does not hold.
pub fn page_of<T>(
    all: Vec<T>,
    page: &gsomia_api::Page,
) -> Result<(Vec<T>, Option<String>), String> {
    let limit = page.limit.unwrap_or(DEFAULT_PAGE);
    if limit == 0 || limit > MAX_PAGE {
        return Err(format!("`limit` is from 1 to {MAX_PAGE}"));
    }
    let from = match param(&page.next, "next")? {
        None => 0,
        Some(c) => c
            .parse::<usize>()
            .map_err(|_| format!("`next={c}` is not a cursor this node gave"))?,
    };
    let total = all.len();
    let to = from.saturating_add(limit as usize).min(total);
    let items: Vec<T> = all
        .into_iter()
        .skip(from)
        .take(to.saturating_sub(from))
        .collect();
    Ok((items, (to < total).then(|| to.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_cover_the_list_once() {
        let page = |limit, next: Option<&str>| gsomia_api::Page {
            limit: Some(limit),
            next: next.map(str::to_owned),
        };
        let (a, n) = page_of((0..7).collect(), &page(3, None)).unwrap();
        assert_eq!((a, n.as_deref()), (vec![0, 1, 2], Some("3")));
        let (b, n) = page_of((0..7).collect(), &page(3, Some("3"))).unwrap();
        assert_eq!((b, n.as_deref()), (vec![3, 4, 5], Some("6")));
        let (c, n) = page_of((0..7).collect::<Vec<i32>>(), &page(3, Some("6"))).unwrap();
        assert_eq!((c, n), (vec![6], None));
        assert!(page_of(vec![1], &page(0, None)).is_err());
        assert!(page_of(vec![1], &page(1, Some("x"))).is_err());
    }
}
