/* exitcodes.h: the exit statuses every admin tool shares (mkv-dump,
 * mkv-import, mkv-rebalance, mkv-rebuild, mkv-upkeep), so that a cron job
 * or a script reads them alike.  Each tool's --help ends with
 * MKV_EXIT_HELP; the README states the same. */
#ifndef MKV_EXITCODES_H
#define MKV_EXITCODES_H

enum {
    MKV_EXIT_OK = 0,         /* done */
    MKV_EXIT_INCOMPLETE = 1, /* not everything was done: keys it could not handle (its
                                output lists or counts them), or it stopped on an error;
                                run it again once that is fixed */
    MKV_EXIT_USAGE = 2,      /* bad arguments or settings: nothing was done */
    MKV_EXIT_INDEX = 3,      /* the index is absent or could not be opened: nothing was done */
};

#define MKV_EXIT_HELP                                                                              \
    "Exit status: 0 done; 1 not everything done (keys it could not handle, listed or\n"            \
    "counted, or an error: run it again once fixed); 2 bad usage or settings; 3 the\n"             \
    "index is absent or could not be opened.\n"

#endif
