/*
 * main.c: the one registry of camvault's C unit tests, and their runner.
 *
 * Adding a test: write `void test_<name>(void)` in tests/unit/test_<module>.c and add one line
 * X(<name>) to UNIT_TESTS below; the list both declares the functions and fills the table.
 *
 * Usage: unit-tests [NAME...]   runs the tests whose name contains any NAME (all without); a
 * NAME that matches no test, or an option (--help prints the usage), runs nothing and exits 2.
 * Each test runs in a forked child (a crash, a sanitizer report or a hang of the code under test
 * fails that test and the run goes on); UNIT_NOFORK=1 runs them in-process, for a debugger.
 * Output: "ok NAME" or "FAIL NAME: file:line: message" lines, then one "N passed, N failed" line;
 * the exit status is 1 when anything failed.
 */
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "tests/unit/fixtures.h"
#include "tests/unit/unit.h"
#include "common/banned.h"

#define UNIT_TESTS(X)                                                                              \
    X(cvtime_parse_good)                                                                           \
    X(dts_rebuild)                                                                                 \
    X(dts_repair)                                                                                  \
    X(dts_vlc_clock_steps)                                                                         \
    X(dts_untangle)                                                                                \
    X(clk_vlc_report_steps)                                                                        \
    X(clk_loss_and_no_grid)                                                                        \
    X(clk_bframes_whole_frames)                                                                    \
    X(clk_bframes_gop_ends)                                                                        \
    X(clk_bframes_whole_steps)                                                                     \
    X(clk_audio_whole_packets)                                                                     \
    X(clk_audio_step_while_late)                                                                   \
    X(picture_black)                                                                               \
    X(picture_frozen)                                                                              \
    X(picture_measure)                                                                             \
    X(picture_hysteresis)                                                                          \
    X(picture_worker)                                                                              \
    X(picture_worker_off)                                                                          \
    X(picture_budget)                                                                              \
    X(picture_worker_cameras)                                                                      \
    X(picture_decoders)                                                                            \
    X(cvtime_parse_bad)                                                                            \
    X(cvtime_civil_round_trip)                                                                     \
    X(cvtime_format_utc)                                                                           \
    X(cvtime_format_local)                                                                         \
    X(cvtime_seconds_parse)                                                                        \
    X(clock_hook)                                                                                  \
    X(clock_line_round_trip)                                                                       \
    X(clock_parse_bad)                                                                             \
    X(buf_varint_round_trip)                                                                       \
    X(buf_fixed_width)                                                                             \
    X(buf_str16)                                                                                   \
    X(buf_grow)                                                                                    \
    X(buf_limit)                                                                                   \
    X(buf_read_past_end)                                                                           \
    X(buf_varint_too_long)                                                                         \
    X(buf_json_str)                                                                                \
    X(buf_hex)                                                                                     \
    X(buf_strlcpy)                                                                                 \
    X(buf_parse_numbers)                                                                           \
    X(error_strerror)                                                                              \
    X(error_errf)                                                                                  \
    X(error_errwrap)                                                                               \
    X(error_null_err)                                                                              \
    X(fileio_atomic_round_trip)                                                                    \
    X(fileio_read_limit)                                                                           \
    X(fileio_mkdir_p)                                                                              \
    X(fileio_path_join)                                                                            \
    X(conf_load)                                                                                   \
    X(conf_errors)                                                                                 \
    X(layout_id_check)                                                                             \
    X(layout_root_create)                                                                          \
    X(layout_segment_create)                                                                       \
    X(layout_segment_parse)                                                                        \
    X(layout_segment_parse_strict)                                                                 \
    X(layout_root_resolve)                                                                         \
    X(bmff_walk)                                                                                   \
    X(bmff_cursor)                                                                                 \
    X(bmff_file)                                                                                   \
    X(bmff_load)                                                                                   \
    X(bmff_write)                                                                                  \
    X(bmff_u32_after_times)                                                                        \
    X(segfile_ntp_round_trip)                                                                      \
    X(segfile_ntp_after_2036)                                                                      \
    X(segfile_boxes)                                                                               \
    X(segfile_scan)                                                                                \
    X(segfile_scan_every_truncation)                                                               \
    X(segfile_scan_not_a_segment)                                                                  \
    X(segfile_scan_garbage)                                                                        \
    X(segfile_scan_mutations)                                                                      \
    X(segfile_scan_short_tkhd)                                                                     \
    X(segfile_scan_trun_past_box)                                                                  \
    X(segfile_scan_largesize_wrap)                                                                 \
    X(segfile_sha256)                                                                              \
    X(openseg_growing_file)                                                                        \
    X(openseg_indexed_or_absent)                                                                   \
    X(seal_requests)                                                                               \
    X(seal_ready)                                                                                  \
    X(idx_open_uninitialized)                                                                      \
    X(idx_cameras)                                                                                 \
    X(idx_segments)                                                                                \
    X(idx_segment_order)                                                                           \
    X(idx_segment_shifted_by_receipt)                                                              \
    X(idx_locate)                                                                                  \
    X(idx_chain)                                                                                   \
    X(idx_chain_crypto_failure)                                                                    \
    X(idx_gaps)                                                                                    \
    X(idx_status)                                                                                  \
    X(idx_pending)                                                                                 \
    X(idx_reopen)                                                                                  \
    X(recover_torn_segment)                                                                        \
    X(recover_existing_changes_nothing)                                                            \
    X(recover_header_only)                                                                         \
    X(fsck_clean)                                                                                  \
    X(fsck_each_damage)                                                                            \
    X(fsck_repair)                                                                                 \
    X(fsck_queued_deletion)                                                                        \
    X(fsck_overlap)                                                                                \
    X(fsck_refuses_while_open)                                                                     \
    X(fsck_rebuild_same_records)                                                                   \
    X(fsck_rebuild_without_index)                                                                  \
    X(export_round_trip)                                                                           \
    X(export_errors)                                                                               \
    X(export_with_tombstone)                                                                       \
    X(export_not_covered)                                                                          \
    X(verify_not_a_package)                                                                        \
    X(clip_layout)                                                                                 \
    X(clip_deterministic_random_access)                                                            \
    X(clip_two_runs_keep_gap)                                                                      \
    X(clip_errors)                                                                                 \
    X(clip_hostile_sources)                                                                        \
    X(clip_growing_source)                                                                         \
    X(snapshot_errors)                                                                             \
    X(fsck_rebuild_reports)                                                                        \
    X(retention_hold_during_pass)                                                                  \
    X(retention_age_deletes_unheld)                                                                \
    X(retention_space_every_volume)                                                                \
    X(retention_volume_limit)                                                                      \
    X(json_good)                                                                                   \
    X(json_bad)                                                                                    \
    X(json_limits)                                                                                 \
    X(json_fields)                                                                                 \
    X(idx_records)                                                                                 \
    X(audit_chain)                                                                                 \
    X(audit_case_lines)                                                                            \
    X(audit_tampered)                                                                              \
    X(audit_signed_head)                                                                           \
    X(audit_group_commit)                                                                          \
    X(audit_group_commit_batches)                                                                  \
    X(audit_group_commit_errors)                                                                   \
    X(server_uri_parse)                                                                            \
    X(server_config_keys)                                                                          \
    X(server_cookie)                                                                               \
    X(server_routes)                                                                               \
    X(server_passwords)                                                                            \
    X(server_sessions)                                                                             \
    X(server_throttle_rule)                                                                        \
    X(server_throttle_check)                                                                      \
    X(server_throttle_table)                                                                      \
    X(server_hash_bound)                                                                          \
    X(server_hash_fair)                                                                           \
    X(server_login)                                                                                \
    X(server_fuzz_parsers)                                                                         \
    X(areas_tree)                                                                                  \
    X(areas_online_enabled)                                                                        \
    X(online_site_days)                                                                            \
    X(workflow_reach)                                                                              \
    X(workflow_records)                                                                            \
    X(workflow_place)                                                                              \
    X(workflow_record_bytes)                                                                       \
    X(alerts_reports)                                                                              \
    X(alerts_camera_states)                                                                        \
    X(segwriter_round_trip)                                                                        \
    X(segwriter_annexb_input)                                                                      \
    X(segwriter_composition_offsets)                                                               \
    X(segwriter_hevc_is_hvc1)                                                                      \
    X(segwriter_chunks)                                                                            \
    X(segwriter_chunks_torn)                                                                       \
    X(segwriter_large_export_verifies)                                                             \
    X(gb_sip_parse)                                                                                \
    X(gb_digest)                                                                                   \
    X(gb_manscdp)                                                                                  \
    X(gb_ps_pack)                                                                                  \
    X(gb_conf)                                                                                     \
    X(loop_queue_order)                                                                            \
    X(loop_queue_overflow_whole_gops)                                                              \
    X(loop_queue_item_bound)                                                                       \
    X(rtsp_rtp_parse)                                                                              \
    X(rtsp_rtp_unwrap)                                                                             \
    X(rtsp_h264_depay)                                                                             \
    X(rtsp_h264_loss)                                                                              \
    X(rtsp_h264_oversize)                                                                          \
    X(rtsp_h265_depay)                                                                             \
    X(rtsp_vconfig)                                                                                \
    X(rtsp_aac_depay)                                                                              \
    X(rtsp_aac_fragments)                                                                          \
    X(rtsp_aac_malformed)                                                                          \
    X(rtsp_sdp_camsim)                                                                             \
    X(rtsp_sdp_gst)                                                                                \
    X(rtsp_sdp_edges)                                                                              \
    X(rtsp_fmtp_get)                                                                               \
    X(rtsp_base64)                                                                                 \
    X(rtsp_digest)                                                                                 \
    X(rtsp_recv_stamped)                                                                           \
    X(rtsp_recv_time)                                                                              \
    X(url_parse)                                                                                   \
    X(url_redact)                                                                                  \
    X(url_check)                                                                                   \
    X(url_format)                                                                                  \
    X(holds_add_list_release)                                                                      \
    X(holds_covers)                                                                                \
    X(volumes_space)                                                                               \
    X(volumes_reserve)                                                                             \
    X(volumes_paths)                                                                               \
    X(volumes_records)                                                                             \
    X(keys_create)                                                                                 \
    X(keys_sign_verify)                                                                            \
    X(keys_import_refused)                                                                         \
    X(checkpoint_sign_verify)                                                                      \
    X(checkpoint_tampered)                                                                         \
    X(checkpoint_audit_line)                                                                       \
    X(checkpoint_signer_thread)                                                                    \
    X(chain_audit_link)                                                                            \
    X(chain_audit_decode)

#define UNIT_DECLARE(name) void test_##name(void);
UNIT_TESTS(UNIT_DECLARE)
#undef UNIT_DECLARE

static const struct unit_test unit_tests[] = {
#define UNIT_ENTRY(name) {#name, test_##name},
    UNIT_TESTS(UNIT_ENTRY)
#undef UNIT_ENTRY
};

#define UNIT_TIMEOUT_S 60  /* per test; a test may set a shorter alarm() itself */
#define UNIT_SHOWN_MAX 30  /* failure lines printed per test */
#define UNIT_EXIT_FAILED 3 /* a child's status when it recorded failures */

static const char *current_test = "?";
static int current_failures;
static char run_dir[PATH_MAX];

void unit_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;

    current_failures++;
    if (current_failures > UNIT_SHOWN_MAX)
        return;
    printf("FAIL %s: %s:%d: ", current_test, file, line);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

int unit_failures(void)
{
    return current_failures;
}

const char *unit_tmp_base(void)
{
    return run_dir[0] ? run_dir : "/tmp";
}

/* Run one test in this process; true when it passed (prints "ok NAME" then). */
static bool run_here(const struct unit_test *t)
{
    current_test = t->name;
    current_failures = 0;
    t->fn();
    if (current_failures > UNIT_SHOWN_MAX)
        printf("FAIL %s: %d more failures not shown\n", t->name, current_failures - UNIT_SHOWN_MAX);
    else if (current_failures == 0)
        printf("ok %s\n", t->name);
    fflush(stdout);
    return current_failures == 0;
}

/* Run one test in a child; a crash, a hang or a sanitizer exit is a failure with its cause. */
static bool run_forked(const struct unit_test *t)
{
    int status = 0;
    pid_t pid;

    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if (pid < 0) {
        perror("unit-tests: fork");
        return run_here(t);
    }
    if (pid == 0) {
        alarm(UNIT_TIMEOUT_S);
        /* exit(), not _exit(): LeakSanitizer checks the child at its exit. */
        exit(run_here(t) ? 0 : UNIT_EXIT_FAILED);
    }
    while (waitpid(pid, &status, 0) < 0)
        ;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return true;
    if (WIFEXITED(status) && WEXITSTATUS(status) == UNIT_EXIT_FAILED)
        return false;
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
        printf("FAIL %s: timed out (hang in the code under test?)\n", t->name);
    else if (WIFSIGNALED(status))
        printf("FAIL %s: crashed with signal %d (%s)\n", t->name, WTERMSIG(status),
               strsignal(WTERMSIG(status)));
    else
        printf("FAIL %s: exited with status %d (sanitizer report on stderr?)\n", t->name,
               WEXITSTATUS(status));
    fflush(stdout);
    return false;
}

static const char usage[] =
    "usage: unit-tests [NAME...]\n"
    "Runs the C unit tests whose name contains any NAME (all of them without one).\n"
    "UNIT_NOFORK=1 runs them in this process (for a debugger) instead of one child each.\n";

/* Whether test `name` is selected by the arguments (every test when there are none). */
static bool selected(const char *name, int argc, char **argv)
{
    if (argc < 2)
        return true;
    for (int i = 1; i < argc; i++)
        if (strstr(name, argv[i]))
            return true;
    return false;
}

/* Options and names that match no test: usage or a one-line error, and the exit status (0 for
 * --help, 2 otherwise); -1 when the arguments are good. */
static int check_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        bool found = false;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage, stdout);
            return 0;
        }
        if (argv[i][0] == '-' || !argv[i][0]) {
            fprintf(stderr, "unit-tests: unknown option '%s'\n%s", argv[i], usage);
            return 2;
        }
        for (size_t j = 0; j < sizeof(unit_tests) / sizeof(unit_tests[0]) && !found; j++)
            found = strstr(unit_tests[j].name, argv[i]) != NULL;
        if (!found) {
            fprintf(stderr, "unit-tests: no test name contains '%s'\n", argv[i]);
            return 2;
        }
    }
    return -1;
}

int main(int argc, char **argv)
{
    const char *nofork = getenv("UNIT_NOFORK");
    bool forked = !(nofork && *nofork && strcmp(nofork, "0") != 0);
    int passed = 0, failed = 0, rc = check_args(argc, argv);

    if (rc >= 0)
        return rc;

    /* Recovery logs what it cuts at info level; keep the output to the test lines. */
    cv_log_init("unit-tests", CV_LOG_WARN);
    snprintf(run_dir, sizeof(run_dir), "/tmp/camvault-unit-XXXXXX");
    if (!mkdtemp(run_dir)) {
        perror("unit-tests: mkdtemp");
        return 1;
    }
    for (size_t i = 0; i < sizeof(unit_tests) / sizeof(unit_tests[0]); i++) {
        const struct unit_test *t = &unit_tests[i];
        if (!selected(t->name, argc, argv))
            continue;
        if (forked ? run_forked(t) : run_here(t))
            passed++;
        else
            failed++;
    }
    fx_rmtree(run_dir);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
