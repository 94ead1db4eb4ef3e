//! The LDAP side: bind, then paged searches for groups and computers (ldap3).

use std::collections::BTreeMap;

use ldap3::adapters::PagedResults;
use ldap3::{LdapConnAsync, LdapConnSettings, LdapError, LdapResult, Scope, SearchEntry};

use super::map::{computer_from_entry, resolve_groups};
use super::{DirectoryComputer, DirectoryConfig, DirectoryError, SyncOutcome};

const COMPUTER_ATTRS: &[&str] = &[
    "cn",
    "sAMAccountName",
    "dNSHostName",
    "operatingSystem",
    "operatingSystemVersion",
    "memberOf",
    "lastLogonTimestamp",
    "userAccountControl",
];

/// LDAP result codes the sync tells apart.
const RC_SIZE_LIMIT: u32 = 4;
const RC_REFERRAL: u32 = 10;
const RC_INVALID_CREDENTIALS: u32 = 49;

/// Reads every computer under the configured base DN, with nested groups resolved.
///
/// Search continuation references inside the results (AD's other partitions) are skipped
/// and counted; a referral for the base itself (result 10) is an error, as are a size limit
/// (result 4, even part way: a partial list would make computers look deleted), bad
/// credentials (49) and an unreachable server. The password is read from its source now.
pub async fn sync(config: &DirectoryConfig) -> Result<SyncOutcome, DirectoryError> {
    if config.page_size == 0 {
        return Err(DirectoryError::Config(
            "page size must be at least 1".into(),
        ));
    }
    let password = config.password.read()?;
    let unreachable = |detail: String| DirectoryError::Unreachable {
        url: config.url.clone(),
        detail,
    };
    let settings = LdapConnSettings::new()
        .set_conn_timeout(config.timeout)
        .set_starttls(config.starttls);
    let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &config.url)
        .await
        .map_err(|e| match e {
            LdapError::UrlParsing { .. } | LdapError::UnknownScheme(_) => {
                DirectoryError::Config(format!("directory URL {}: {e}", config.url))
            }
            e => unreachable(e.to_string()),
        })?;
    let url = config.url.clone();
    tokio::spawn(async move {
        if let Err(e) = conn.drive().await {
            tracing::debug!(url = %url, error = %e, "directory connection ended");
        }
    });
    ldap.with_timeout(config.timeout);
    let bind = ldap
        .simple_bind(&config.bind_dn, password.expose())
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    drop(password);
    match bind.rc {
        0 => {}
        RC_INVALID_CREDENTIALS => {
            return Err(DirectoryError::BadCredentials {
                url: config.url.clone(),
                bind_dn: config.bind_dn.clone(),
            });
        }
        _ => return Err(result_error(config, bind, 0)),
    }

    let (groups, _) = paged_search(config, &mut ldap, &config.group_filter, &["memberOf"]).await?;
    let parents: BTreeMap<String, Vec<String>> = groups
        .into_iter()
        .map(|e| {
            let member_of = e
                .attrs
                .into_iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("memberOf"))
                .map(|(_, v)| v)
                .unwrap_or_default();
            (e.dn, member_of)
        })
        .collect();
    let (entries, references_skipped) =
        paged_search(config, &mut ldap, &config.filter, COMPUTER_ATTRS).await?;
    let _ = ldap.unbind().await;

    let mut computers: Vec<DirectoryComputer> = entries
        .into_iter()
        .filter_map(|e| computer_from_entry(&e.dn, &e.attrs))
        .collect();
    for c in &mut computers {
        c.groups = resolve_groups(&c.groups, &parents);
    }
    computers.sort_by(|a, b| a.dn.cmp(&b.dn));
    Ok(SyncOutcome {
        computers,
        groups: parents.len(),
        references_skipped,
    })
}

/// One paged search of the whole subtree: the entries and how many references it skipped.
async fn paged_search(
    config: &DirectoryConfig,
    ldap: &mut ldap3::Ldap,
    filter: &str,
    attrs: &[&str],
) -> Result<(Vec<SearchEntry>, usize), DirectoryError> {
    let page_size = i32::try_from(config.page_size).unwrap_or(i32::MAX);
    let mut stream = ldap
        .streaming_search_with(
            PagedResults::new(page_size),
            &config.base_dn,
            Scope::Subtree,
            filter,
            attrs.to_vec(),
        )
        .await
        .map_err(|e| stream_error(config, e, 0))?;
    let mut entries = Vec::new();
    let mut references = 0;
    loop {
        match stream.next().await {
            Ok(Some(entry)) if entry.is_ref() => references += 1,
            Ok(Some(entry)) if entry.is_intermediate() => {}
            Ok(Some(entry)) => entries.push(SearchEntry::construct(entry)),
            Ok(None) => break,
            Err(e) => return Err(stream_error(config, e, entries.len())),
        }
    }
    let result = stream.finish().await;
    if result.rc != 0 {
        return Err(result_error(config, result, entries.len()));
    }
    Ok((entries, references))
}

fn stream_error(config: &DirectoryConfig, e: LdapError, returned: usize) -> DirectoryError {
    match e {
        LdapError::LdapResult { result } => result_error(config, result, returned),
        LdapError::FilterParsing => DirectoryError::Config(format!(
            "the search filter `{}` or `{}` does not parse",
            config.filter, config.group_filter
        )),
        e => DirectoryError::Unreachable {
            url: config.url.clone(),
            detail: e.to_string(),
        },
    }
}

fn result_error(config: &DirectoryConfig, result: LdapResult, returned: usize) -> DirectoryError {
    match result.rc {
        RC_SIZE_LIMIT => DirectoryError::SizeLimit {
            url: config.url.clone(),
            base_dn: config.base_dn.clone(),
            returned,
        },
        RC_REFERRAL => DirectoryError::Referral {
            url: config.url.clone(),
            base_dn: config.base_dn.clone(),
            refs: result.refs,
        },
        RC_INVALID_CREDENTIALS => DirectoryError::BadCredentials {
            url: config.url.clone(),
            bind_dn: config.bind_dn.clone(),
        },
        rc => DirectoryError::Ldap {
            url: config.url.clone(),
            base_dn: config.base_dn.clone(),
            rc,
            text: result.text,
        },
    }
}
