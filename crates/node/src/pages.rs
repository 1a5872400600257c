//! Paging: the limit and cursor every list takes (items and transfers walk
//! the store from a row's position; consents and warnings are held whole,
//! and [`page_of`] cuts a page out of them).

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

/// The page size asked for: [`DEFAULT_PAGE`] when absent, refused
/// outside 1 to [`MAX_PAGE`].
pub fn limit(limit: Option<u32>) -> Result<u32, String> {
    let limit = limit.unwrap_or(DEFAULT_PAGE);
    if limit == 0 || limit > MAX_PAGE {
        return Err(format!("`limit` is from 1 to {MAX_PAGE}"));
    }
    Ok(limit)
}

/// The cursor given as `next` (a position this node gave), if any.
pub fn cursor(next: &Option<String>) -> Result<Option<i64>, String> {
    param(next, "next")?
        .map(|c| {
            c.parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| format!("`next={c}` is not a cursor this node gave"))
        })
        .transpose()
}

/// The page of `all` that `page` asks for, and the next cursor; or why
/// the request does not hold.
pub fn page_of<T>(
    all: Vec<T>,
    page: &gsomia_api::Page,
) -> Result<(Vec<T>, Option<String>), String> {
    let limit = limit(page.limit)?;
    let from = usize::try_from(cursor(&page.next)?.unwrap_or(0)).unwrap_or(usize::MAX);
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
