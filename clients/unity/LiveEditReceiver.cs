// liveedit for Unity: drives a Humanoid avatar from the engine's WebSocket pose stream.
//
// Add this component to the avatar (the GameObject with the Animator), press Play while
// `liveedit serve` runs. Wire format: docs/protocol.md (JSON frames, protocol version 1).
//
// Threads: a background task owns the ClientWebSocket (connect, receive, reconnect with backoff)
// and parses messages; Update() on the main thread drains a ConcurrentQueue and applies only the
// newest frame, since Unity objects may only be touched from the main thread.
//
// Frames: SMPL is right-handed, y up, metres, facing +z; Unity is left-handed, y up, facing +z.
// Mirroring x converts: position (-x, y, z), quaternion (qx, -qy, -qz, qw); left stays left.
//
// Rest-pose correction: avatars' bones have arbitrary local axes, so SMPL local rotations cannot be
// copied onto them. At Start, with the avatar in T-pose (SMPL's rest pose), each bone's rotation
// relative to the avatar root is stored; every frame the SMPL joint's global rotation G (the product
// of local rotations down the chain, converted to Unity) is applied on top of it:
//     bone.rotation = root.rotation * G * restRotationInRoot
// Bones the avatar lacks (e.g. UpperChest) are skipped; their children still come out right
// because each bone is set from its own global rotation.
using System;
using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using UnityEngine;

namespace LiveEdit
{
    [Serializable]
    public class EditInfo
    {
        public int id;
        public string text;
    }

    [Serializable]
    public class FrameMessage
    {
        public string type;
        public int frame;
        public float t;
        public float bpm;
        public float beat;
        public float phase;
        public float[] root;      // 3 floats, pelvis position, SMPL frame
        public float[] rot;       // 96 floats: 24 joints x (x, y, z, w), local, SMPL frame
        public EditInfo[] edits;  // active edits, newest last
    }

    [Serializable]
    public class ReplyMessage
    {
        public string type;
        public string request;
        public bool ok;
        public string message;
    }

    [Serializable]
    class TypeOnly { public string type; public int protocol; }

    [Serializable]
    class EditRequest { public string type = "edit"; public string text; }

    [Serializable]
    class TimedEditRequest { public string type = "edit"; public string text; public float duration; }

    [Serializable]
    class ValueRequest { public string type; public float value; }

    [Serializable]
    class PlainRequest { public string type; }

    public class LiveEditReceiver : MonoBehaviour
    {
        public const int ProtocolVersion = 1;
        const int NumJoints = 24;
        const float SmplStandingPelvisHeight = 0.9764f;

        // SMPL kinematic tree (docs/protocol.md section 1).
        static readonly int[] Parents = { -1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21 };

        // SMPL joint -> Unity humanoid bone; joints 22 and 23 (hand ends) have none (LastBone = skip).
        static readonly HumanBodyBones[] BoneMap =
        {
            HumanBodyBones.Hips, HumanBodyBones.LeftUpperLeg, HumanBodyBones.RightUpperLeg, HumanBodyBones.Spine,
            HumanBodyBones.LeftLowerLeg, HumanBodyBones.RightLowerLeg, HumanBodyBones.Chest,
            HumanBodyBones.LeftFoot, HumanBodyBones.RightFoot, HumanBodyBones.UpperChest,
            HumanBodyBones.LeftToes, HumanBodyBones.RightToes, HumanBodyBones.Neck,
            HumanBodyBones.LeftShoulder, HumanBodyBones.RightShoulder, HumanBodyBones.Head,
            HumanBodyBones.LeftUpperArm, HumanBodyBones.RightUpperArm,
            HumanBodyBones.LeftLowerArm, HumanBodyBones.RightLowerArm,
            HumanBodyBones.LeftHand, HumanBodyBones.RightHand,
            HumanBodyBones.LastBone, HumanBodyBones.LastBone,
        };

        [Header("Stream")]
        [Tooltip("The engine's WebSocket endpoint (liveedit serve prints it)")]
        public string url = "ws://127.0.0.1:8765/ws";
        [Tooltip("Seconds between reconnect attempts start here and double up to maxReconnectDelay")]
        public float minReconnectDelay = 0.5f;
        public float maxReconnectDelay = 8f;

        [Header("Avatar")]
        [Tooltip("Humanoid Animator; the avatar must stand in T-pose when Play starts (no controller)")]
        public Animator animator;
        [Tooltip("Move the hips with the dancer's root (scaled to the avatar's leg length)")]
        public bool applyRootPosition = true;
        [Tooltip("Also move horizontally; off keeps the avatar on its spot")]
        public bool applyHorizontalMotion = true;

        [Header("State (read only)")]
        public string status = "idle";
        public int framesReceived;
        public float bpm;
        public float beatPhase;
        public string[] activeEdits = new string[0];
        public string lastReply = "";

        /// <summary>Raised on the main thread for every reply to a control message.</summary>
        public event Action<ReplyMessage> ReplyReceived;

        readonly ConcurrentQueue<FrameMessage> frames = new ConcurrentQueue<FrameMessage>();
        readonly ConcurrentQueue<ReplyMessage> replies = new ConcurrentQueue<ReplyMessage>();
        readonly ConcurrentQueue<string> outbox = new ConcurrentQueue<string>();
        readonly Transform[] bones = new Transform[NumJoints];
        readonly Quaternion[] restInRoot = new Quaternion[NumJoints];
        readonly Quaternion[] global = new Quaternion[NumJoints];
        Vector3 restHipsInRoot;
        float rootScale = 1f;
        CancellationTokenSource cts;
        volatile string netStatus = "idle";
        int received;

        void Start()
        {
            if (animator == null) animator = GetComponent<Animator>();
            if (animator == null || !animator.isHuman)
            {
                Debug.LogError("LiveEditReceiver needs a Humanoid Animator (Rig > Animation Type: Humanoid)");
                enabled = false;
                return;
            }
            Transform root = animator.transform;
            for (int j = 0; j < NumJoints; j++)
            {
                if (BoneMap[j] == HumanBodyBones.LastBone) continue;
                bones[j] = animator.GetBoneTransform(BoneMap[j]);  // null when the rig lacks this bone
                if (bones[j] != null) restInRoot[j] = Quaternion.Inverse(root.rotation) * bones[j].rotation;
            }
            restHipsInRoot = root.InverseTransformPoint(bones[0].position);
            // Scale the dancer's root motion to this avatar: its hips height over SMPL's.
            rootScale = Mathf.Max(0.1f, restHipsInRoot.y) / SmplStandingPelvisHeight;
        }

        void OnEnable()
        {
            cts = new CancellationTokenSource();
            var token = cts.Token;
            Task.Run(() => RunAsync(token));
        }

        void OnDisable()
        {
            if (cts != null) { cts.Cancel(); cts.Dispose(); cts = null; }
            status = "idle";
        }

        // ------------------------------------------------------------------ control messages

        public void SendEdit(string text, float durationBeats = 0f)
        {
            if (string.IsNullOrWhiteSpace(text)) return;
            outbox.Enqueue(durationBeats > 0f
                ? JsonUtility.ToJson(new TimedEditRequest { text = text.Trim(), duration = durationBeats })
                : JsonUtility.ToJson(new EditRequest { text = text.Trim() }));
        }

        public void Undo() { outbox.Enqueue(JsonUtility.ToJson(new PlainRequest { type = "undo" })); }
        public void ResetEdits() { outbox.Enqueue(JsonUtility.ToJson(new PlainRequest { type = "reset" })); }
        public void Tap() { outbox.Enqueue(JsonUtility.ToJson(new PlainRequest { type = "tap" })); }
        public void SetStrength(float value) { outbox.Enqueue(JsonUtility.ToJson(new ValueRequest { type = "strength", value = value })); }
        public void SetTempo(float bpmValue) { outbox.Enqueue(JsonUtility.ToJson(new ValueRequest { type = "tempo", value = bpmValue })); }

        // ------------------------------------------------------------------ main thread

        void Update()
        {
            status = netStatus;
            while (replies.TryDequeue(out var reply))
            {
                lastReply = (reply.ok ? "" : "refused: ") + reply.message;
                ReplyReceived?.Invoke(reply);
            }
            FrameMessage newest = null;
            while (frames.TryDequeue(out var f)) newest = f;  // a late Update skips to the newest pose
            if (newest == null) return;
            framesReceived = Interlocked.CompareExchange(ref received, 0, 0);
            bpm = newest.bpm;
            beatPhase = newest.phase;
            if (newest.edits != null)
            {
                activeEdits = new string[newest.edits.Length];
                for (int i = 0; i < newest.edits.Length; i++) activeEdits[i] = newest.edits[i].text;
            }
            ApplyPose(newest);
        }

        static Quaternion ToUnity(float[] q, int j)
        {
            // SMPL (x, y, z, w) right-handed -> Unity left-handed: mirror x.
            return new Quaternion(q[4 * j], -q[4 * j + 1], -q[4 * j + 2], q[4 * j + 3]);
        }

        void ApplyPose(FrameMessage f)
        {
            if (f.rot == null || f.rot.Length != 4 * NumJoints || f.root == null || f.root.Length != 3) return;
            Transform root = animator.transform;
            for (int j = 0; j < NumJoints; j++)  // parents come before children in SMPL order
            {
                Quaternion local = ToUnity(f.rot, j);
                global[j] = Parents[j] < 0 ? local : global[Parents[j]] * local;
                if (bones[j] != null) bones[j].rotation = root.rotation * global[j] * restInRoot[j];
            }
            if (applyRootPosition && bones[0] != null)
            {
                var p = new Vector3(-f.root[0], f.root[1], f.root[2]) * rootScale;
                if (!applyHorizontalMotion) { p.x = restHipsInRoot.x; p.z = restHipsInRoot.z; }
                bones[0].position = root.TransformPoint(p);
            }
        }

        // ------------------------------------------------------------------ background thread

        async Task RunAsync(CancellationToken token)
        {
            float delay = minReconnectDelay;
            while (!token.IsCancellationRequested)
            {
                using (var ws = new ClientWebSocket())
                {
                    try
                    {
                        netStatus = "connecting";
                        await ws.ConnectAsync(new Uri(url), token);
                        netStatus = "live";
                        delay = minReconnectDelay;
                        var sender = SendLoopAsync(ws, token);
                        await ReceiveLoopAsync(ws, token);
                        await sender;
                    }
                    catch (OperationCanceledException) { break; }
                    catch (Exception e)
                    {
                        netStatus = "offline: " + e.Message;
                    }
                }
                try { await Task.Delay(TimeSpan.FromSeconds(delay), token); }
                catch (OperationCanceledException) { break; }
                delay = Mathf.Min(delay * 2f, maxReconnectDelay);
            }
            netStatus = "idle";
        }

        async Task ReceiveLoopAsync(ClientWebSocket ws, CancellationToken token)
        {
            var buffer = new byte[64 * 1024];
            var message = new System.IO.MemoryStream();
            while (ws.State == WebSocketState.Open && !token.IsCancellationRequested)
            {
                message.SetLength(0);
                WebSocketReceiveResult result;
                do
                {
                    result = await ws.ReceiveAsync(new ArraySegment<byte>(buffer), token);
                    if (result.MessageType == WebSocketMessageType.Close)
                    {
                        netStatus = "server closed the connection";
                        return;
                    }
                    message.Write(buffer, 0, result.Count);
                } while (!result.EndOfMessage);
                if (result.MessageType != WebSocketMessageType.Text) continue;  // JSON subscription only
                Handle(Encoding.UTF8.GetString(message.GetBuffer(), 0, (int)message.Length));
            }
        }

        void Handle(string json)
        {
            // JsonUtility may be used off the main thread; Unity objects are not touched here.
            var head = JsonUtility.FromJson<TypeOnly>(json);
            switch (head.type)
            {
                case "frame":
                    frames.Enqueue(JsonUtility.FromJson<FrameMessage>(json));
                    Interlocked.Increment(ref received);
                    while (frames.Count > 4 && frames.TryDequeue(out _)) { }  // keep the queue short
                    break;
                case "reply":
                    replies.Enqueue(JsonUtility.FromJson<ReplyMessage>(json));
                    break;
                case "hello":
                    if (head.protocol != ProtocolVersion)
                        netStatus = "server speaks protocol " + head.protocol + ", this receiver reads " + ProtocolVersion;
                    break;
            }
        }

        async Task SendLoopAsync(ClientWebSocket ws, CancellationToken token)
        {
            // The only sender on this socket (ClientWebSocket allows one send at a time).
            while (ws.State == WebSocketState.Open && !token.IsCancellationRequested)
            {
                string text;
                while (outbox.TryDequeue(out text))
                {
                    var bytes = Encoding.UTF8.GetBytes(text);
                    await ws.SendAsync(new ArraySegment<byte>(bytes), WebSocketMessageType.Text, true, token);
                }
                await Task.Delay(10, token);
            }
        }
    }
}
