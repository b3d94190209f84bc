//! Output column names.

/// Graph property name to snake_case: `userPrincipalName` -> `user_principal_name`,
/// `@odata.type` -> `odata_type`, `onPremisesSamAccountName` -> `on_premises_sam_account_name`,
/// `eTag` -> `e_tag`, `isMFARegistered` -> `is_mfa_registered`.
pub fn snake_case(graph: &str) -> String {
    let chars: Vec<char> = graph.chars().collect();
    let mut out = String::with_capacity(graph.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_ascii_alphanumeric() {
            if !out.is_empty() && !out.ends_with('_') {
                out.push('_');
            }
            continue;
        }
        if c.is_ascii_uppercase() {
            let prev = i.checked_sub(1).map(|p| chars[p]);
            let next = chars.get(i + 1).copied();
            let boundary = match prev {
                Some(p) if p.is_ascii_lowercase() || p.is_ascii_digit() => true,
                // The last capital of an acronym starts a new word: `MFARegistered` -> `mfa_registered`.
                Some(p) if p.is_ascii_uppercase() => next.is_some_and(|n| n.is_ascii_lowercase()),
                _ => false,
            };
            if boundary && !out.is_empty() && !out.ends_with('_') {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    out
}

/// Report CSV header to column name: lowercase, every run of non-alphanumerics becomes `_`,
/// trimmed at the ends (`Storage Used (Byte)` -> `storage_used_byte`).
pub fn report_column_name(header: &str) -> String {
    let mut out = String::with_capacity(header.len());
    for c in header.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_names_become_snake_case() {
        for (graph, snake) in [
            ("userPrincipalName", "user_principal_name"),
            ("@odata.type", "odata_type"),
            ("id", "id"),
            ("eTag", "e_tag"),
            ("isMFARegistered", "is_mfa_registered"),
            ("onPremisesSamAccountName", "on_premises_sam_account_name"),
            ("extensionAttribute15", "extension_attribute15"),
            (
                "@microsoft.graph.downloadUrl",
                "microsoft_graph_download_url",
            ),
            ("cTag", "c_tag"),
        ] {
            assert_eq!(snake_case(graph), snake, "{graph}");
        }
    }

    #[test]
    fn report_headers_follow_the_reports_rule() {
        assert_eq!(
            report_column_name("Storage Used (Byte)"),
            "storage_used_byte"
        );
        assert_eq!(
            report_column_name("Prohibit Send/Receive Quota (Byte)"),
            "prohibit_send_receive_quota_byte"
        );
        assert_eq!(
            report_column_name("Scheduled One-time Meetings"),
            "scheduled_one_time_meetings"
        );
        assert_eq!(
            report_column_name("\u{feff}Report Refresh Date"),
            "report_refresh_date"
        );
    }
}
