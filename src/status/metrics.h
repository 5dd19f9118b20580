/*
 * metrics: sessions' status in the Prometheus text exposition format
 * (version 0.0.4), for `georep status --prometheus` and the monitor's
 * metrics_listen endpoint (daemon/scrape.h serves it).
 *
 * One family per figure, each sample labelled session="NAME", so that
 * the sessions of a host read as one scrape and the figures of one
 * session from several hosts do not collide once a job label is added.
 * The figures are the ones status shows, under names that follow the
 * Prometheus conventions (units in the name, _total for counters):
 *
 *   georep_info{primary,secondary,detector}       1
 *   georep_running                                0 or 1
 *   georep_state{state="Changelog Crawl"...}      1 for the state it is
 *                                                 in, 0 for the others
 *   georep_lag_seconds                            +Inf before a first sync
 *   georep_sync_point_timestamp_seconds           0 before a first sync
 *   georep_files_synced_total, georep_bytes_synced_total
 *   georep_wire_bytes_total, georep_wire_plain_bytes_total
 *   georep_entries_pending, georep_data_pending, georep_meta_pending
 *   georep_changes_pending                        recorded, not applied
 *   georep_failures                               paths failing now
 *   georep_turns_total, georep_full_crawls_total
 *   georep_last_full_crawl_duration_seconds
 *   georep_full_crawl_duration_seconds_total
 *   georep_checkpoint_timestamp_seconds, georep_checkpoint_completed
 *   georep_verify_timestamp_seconds, georep_verify_differences
 *   georep_start_timestamp_seconds                of the monitor; 0 stopped
 *
 * Label values are escaped as the format asks (\\, \", \n); bytes that are
 * not UTF-8 (a path may hold any) are written as '?', which the format
 * cannot carry otherwise.
 */
#ifndef GEOREP_METRICS_H
#define GEOREP_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

/* The content type of what status_prometheus returns. */
#define METRICS_CONTENT_TYPE	"text/plain; version=0.0.4; charset=utf-8"

/* The text of n sessions (st[i] as v[i] shows it), at the realtime `now`
 * (ns, for the lag): malloc'ed. */
char *status_prometheus(const struct status *st, const struct status_view *v,
    size_t n, int64_t now);

#endif
