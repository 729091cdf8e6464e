/* lti.h -- the one header the glue and ptechctl include. */
#ifndef LTI_H
#define LTI_H

#include "lti_err.h"
#include "lti_util.h"
#include "lti_store.h"
#include "lti_catalog.h"
#include "lti_oauth1.h"
#include "lti_launch11.h"
#include "lti_launch13.h"
#include "lti_jose.h"
#include "lti_http.h"
#include "lti_platform.h"
#include "lti_dynreg.h"
#include "lti_migration.h"
#include "lti_ags.h"
#include "lti_csv.h"
#include "lti_progress.h"
#include "lti_pox.h"
#include "lti_outbox.h"
#include "lti_messages.h"
#include "lti_xapi.h"
#include "lti_badge.h"
#include "lti_deeplink.h"
#include "lti_nrps.h"
#include "lti_report.h"

#endif
