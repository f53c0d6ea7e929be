// emu's web console: the machines of the node with their state and lifecycle buttons, snapshots,
// and a terminal on a machine's serial console. Control calls are gRPC-Web calls to the same
// MachineService every other client uses (machine.proto, parsed here by protobufjs); the console
// is a WebSocket at /console/ID carrying the serial bytes both ways. With a token configured on
// the node (EMU_TOKEN) every call and the WebSocket carry it; the page asks for it.
'use strict';

const StatusCode = { UNAUTHENTICATED: 16 };
const RefreshMs = 1000;

const app = {
  token: sessionStorage.getItem('emu-token') || '',
  service: null,
  timer: 0,
  socket: null,
  terminal: null,
  chosenSnapshot: new Map(), // machine id -> snapshot id picked in its list
};

class GrpcError extends Error {
  constructor(code, message) {
    super(message || `gRPC status ${code}`);
    this.code = code;
  }
}

const $ = id => document.getElementById(id);

// ---- gRPC-Web (application/grpc-web+proto): 5-byte frames, flag 0x80 marks the trailers ----

async function loadService() {
  const text = await (await fetch('machine.proto')).text();
  const root = protobuf.parse(text).root;
  root.resolveAll();
  app.service = root.lookupService('emulator.v1.MachineService');
}

function frame(bytes) {
  const out = new Uint8Array(5 + bytes.length);
  new DataView(out.buffer).setUint32(1, bytes.length);
  out.set(bytes, 5);
  return out;
}

function parseTrailers(bytes) {
  const trailers = {};
  for (const line of new TextDecoder().decode(bytes).split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) {
      trailers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
  }
  return trailers;
}

async function call(name, request) {
  const method = app.service.methods[name];
  const requestType = method.resolvedRequestType, responseType = method.resolvedResponseType;
  const headers = { 'content-type': 'application/grpc-web+proto', 'x-grpc-web': '1' };
  if (app.token) {
    headers.authorization = 'Bearer ' + app.token;
  }

  let response;
  try {
    response = await fetch(`/emulator.v1.MachineService/${name}`, {
      method: 'POST',
      headers,
      body: frame(requestType.encode(requestType.fromObject(request)).finish()),
    });
  } catch (e) {
    throw new GrpcError(14, `the service cannot be reached (${e.message})`);
  }

  const body = new Uint8Array(await response.arrayBuffer());
  let status = response.headers.get('grpc-status');
  let message = response.headers.get('grpc-message');
  let reply = null;
  for (let at = 0; at + 5 <= body.length;) {
    const length = new DataView(body.buffer, body.byteOffset + at + 1, 4).getUint32(0);
    const payload = body.subarray(at + 5, at + 5 + length);
    if (body[at] & 0x80) {
      const trailers = parseTrailers(payload);
      status = trailers['grpc-status'] ?? status;
      message = trailers['grpc-message'] ?? message;
    } else {
      reply = responseType.decode(payload);
    }
    at += 5 + length;
  }

  if (!response.ok && status === null) {
    throw new GrpcError(2, `HTTP ${response.status} from the service`);
  }
  if (status !== '0') {
    throw new GrpcError(Number(status), message ? decodeURIComponent(message) : '');
  }
  return responseType.toObject(reply ?? responseType.create(), { enums: String, longs: Number, defaults: true });
}

// ---- token ----

function askForToken(reason) {
  stopRefresh();
  $('machines-view').hidden = true;
  $('console-view').hidden = true;
  $('login').hidden = false;
  $('login-reason').textContent = reason;
  $('token').focus();
}

$('login-form').addEventListener('submit', e => {
  e.preventDefault();
  app.token = $('token').value;
  sessionStorage.setItem('emu-token', app.token);
  $('token').value = '';
  start();
});

$('forget-token').addEventListener('click', () => {
  app.token = '';
  sessionStorage.removeItem('emu-token');
  closeConsole();
  askForToken('Token forgotten. Enter it again to manage the machines.');
});

// ---- machines ----

const stateName = s => s.replace('MACHINE_STATE_', '');

const actions = [
  // [label, rpc, states in which the call is allowed]
  ['Start', 'StartMachine', ['CREATED', 'LOST']], // a LOST machine boots from its spec
  ['Pause', 'PauseMachine', ['RUNNING']],
  ['Resume', 'ResumeMachine', ['PAUSED']],
  ['Reset', 'ResetMachine', ['RUNNING', 'PAUSED']],
  ['Stop', 'StopMachine', ['RUNNING', 'PAUSED']],
  ['Delete', 'DeleteMachine', ['CREATED', 'STOPPED', 'FAILED', 'LOST']],
];

function button(label, enabled, onClick, action) {
  const b = document.createElement('button');
  b.textContent = label;
  b.disabled = !enabled;
  b.dataset.action = action;
  b.addEventListener('click', onClick);
  return b;
}

function showError(e) {
  if (e instanceof GrpcError && e.code === StatusCode.UNAUTHENTICATED) {
    askForToken(app.token
      ? `The service refused this token: ${e.message}`
      : `The service refuses calls without its token: ${e.message}`);
    return;
  }
  $('error').hidden = false;
  $('error').textContent = e.message;
}

async function act(rpc, request) {
  try {
    await call(rpc, request);
    $('error').hidden = true;
  } catch (e) {
    showError(e);
  }
  await refresh();
}

function render(machines, snapshots) {
  const body = $('machines').tBodies[0];
  body.replaceChildren();
  $('empty').hidden = machines.length > 0;
  for (const m of machines) {
    const state = stateName(m.state);
    const row = body.insertRow();
    row.dataset.machine = m.id;
    row.insertCell().textContent = m.id;
    const stateCell = row.insertCell();
    stateCell.textContent = state;
    stateCell.className = `state ${state}`;
    stateCell.title = m.detail;
    row.insertCell().textContent = m.spec?.vcpus ?? '';
    row.insertCell().textContent = m.spec ? `${m.spec.memoryMib} MiB` : '';
    row.insertCell().textContent = m.node;

    const buttons = row.insertCell();
    buttons.className = 'actions';
    for (const [label, rpc, states] of actions) {
      buttons.append(button(label, states.includes(state), () => act(rpc, { id: m.id }), label.toLowerCase()));
    }
    const live = state === 'RUNNING' || state === 'PAUSED';
    buttons.append(button('Console', live, () => openConsole(m.id), 'console'));

    const snap = row.insertCell();
    snap.className = 'snapshots';
    snap.append(button('Snapshot', live, () => act('CreateSnapshot', { machineId: m.id }), 'snapshot'));
    const own = snapshots.filter(s => s.machineId === m.id);
    if (own.length > 0) {
      const select = document.createElement('select');
      for (const s of own) {
        const when = new Date(Number(s.createdUnixNanos) / 1e6).toLocaleTimeString();
        select.add(new Option(`${s.id} (${when})`, s.id));
      }
      if (own.some(s => s.id === app.chosenSnapshot.get(m.id))) {
        select.value = app.chosenSnapshot.get(m.id);
      }
      select.addEventListener('change', () => app.chosenSnapshot.set(m.id, select.value));
      snap.append(select, button('Restore', true, () => act('RestoreSnapshot', { snapshotId: select.value }), 'restore'));
    }
  }
}

async function refresh() {
  try {
    const [list, snaps] = await Promise.all([call('ListMachines', {}), call('ListSnapshots', {})]);
    $('login').hidden = true;
    $('machines-view').hidden = false;
    $('forget-token').hidden = !app.token;
    $('node').textContent = list.machines.length > 0 ? `node ${list.machines[0].node}` : '';
    render(list.machines, snaps.snapshots);
  } catch (e) {
    showError(e);
  }
}

function stopRefresh() {
  clearInterval(app.timer);
  app.timer = 0;
}

// ---- console: /console/ID over a WebSocket; the token travels as a subprotocol ----

function base64Url(text) {
  let binary = '';
  for (const b of new TextEncoder().encode(text)) {
    binary += String.fromCharCode(b);
  }
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function closeConsole() {
  app.socket?.close();
  app.socket = null;
  app.terminal?.dispose();
  app.terminal = null;
  $('console-view').hidden = true;
}

function openConsole(id) {
  closeConsole();
  $('console-view').hidden = false;
  $('console-machine').textContent = id;
  $('console-status').textContent = 'connecting...';
  const terminal = new Terminal({ cols: 100, rows: 26, scrollback: 2000 });
  terminal.open($('terminal'));
  app.terminal = terminal;

  const protocols = ['emu-console'];
  if (app.token) {
    protocols.push('emu-token.' + base64Url(app.token));
  }
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const socket = new WebSocket(`${scheme}//${location.host}/console/${encodeURIComponent(id)}`, protocols);
  socket.binaryType = 'arraybuffer';
  app.socket = socket;
  const encoder = new TextEncoder();
  socket.onopen = () => {
    $('console-status').textContent = 'attached: type into the terminal';
    terminal.focus();
  };
  socket.onmessage = e => terminal.write(new Uint8Array(e.data));
  socket.onclose = e => {
    if (app.socket === socket) {
      $('console-status').textContent = `detached${e.reason ? ': ' + e.reason : ''}`;
    }
  };
  terminal.onData(data => {
    if (socket.readyState === WebSocket.OPEN) {
      socket.send(encoder.encode(data));
    }
  });
}

$('console-close').addEventListener('click', closeConsole);

// ---- start ----

async function start() {
  stopRefresh();
  await refresh();
  if (!$('machines-view').hidden) {
    app.timer = setInterval(refresh, RefreshMs);
  }
}

loadService().then(start, e => showError(new Error(`cannot load machine.proto: ${e.message}`)));
