// Who may hold a ticket: the staff of each team this user works in, read
// once per sign-in (`GET /api/users?team=`), for the assignee pickers.

import * as api from './api.js';
import { rememberNames, user } from './session.js';

const members = new Map(); // team id -> [{id, name, role}]

/** Reads the staff of the user's teams (every team for admins). */
export async function loadTeams() {
  members.clear();
  const teamIds = user.role === 'admin' ? (await api.teams().catch(() => [])).map((t) => t.id) : user.team_ids ?? [];
  await Promise.all(
    teamIds.map(async (team) => {
      const staff = (await api.users({ team }).catch(() => [])).filter((u) => u.role === 'agent' || u.role === 'admin');
      rememberNames(staff);
      members.set(team, staff);
    }),
  );
}

/** The teams read (the user's own; every team for admins). */
export const teamIds = () => [...members.keys()];

/** The staff a ticket of `teamId` may be assigned to. */
export const membersOf = (teamId) => members.get(teamId) ?? [];
